import type { Hex } from "viem";
import type { StoredReading } from "../store/types.js";

/** When a feed is pushed: on a relative change of at least `deviationBps`, or after `heartbeatSec`. */
export type PushedFeed = { feedId: Hex; deviationBps: number; heartbeatSec: number };

/** What was last pushed for a feed: its value, when (ms), and the ids of the readings it held. */
export type LastPush = { value: bigint; at: number; sent: Set<string> };

/** A push that is due: the median to report and the readings not sent before. */
export type DuePush = { value: bigint; fresh: StoredReading[] };

/** The median of the values (the mean of the two middle ones for an even count). */
export function median(values: bigint[]): bigint {
  const v = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] as bigint) : ((v[mid - 1] as bigint) + (v[mid] as bigint)) / 2n;
}

/** Whether `value` moved from `last` by at least `bps` basis points (any move away from 0 counts). */
export function deviates(value: bigint, last: bigint, bps: number): boolean {
  if (last === 0n) return value !== 0n;
  const diff = value > last ? value - last : last - value;
  return (diff * 10_000n) / (last < 0n ? -last : last) >= BigInt(bps);
}

/**
 * Whether a feed is due, from the newest reading of each device, what was last pushed and the time
 * (ms): never pushed, or the median moved by the deviation threshold, or the heartbeat is due; and
 * in every case with at least one reading not pushed before. Null when nothing is to be pushed.
 */
export function decidePush(
  feed: PushedFeed,
  readings: StoredReading[],
  last: LastPush | undefined,
  now: number,
): DuePush | null {
  if (readings.length === 0) return null;
  const fresh = readings.filter((r) => !last?.sent.has(r.id));
  if (fresh.length === 0) return null;
  const value = median(readings.map((r) => BigInt(r.value)));
  const due =
    !last || deviates(value, last.value, feed.deviationBps) || now - last.at >= feed.heartbeatSec * 1000;
  return due ? { value, fresh } : null;
}
