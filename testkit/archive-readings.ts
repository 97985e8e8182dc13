import type { Hex } from "viem";
import { toReading } from "../bridge/checks.js";
import type { CommittedBatch, StoredReading } from "../bridge/store/types.js";
import { buildReadingTree } from "../protocol/index.js";

/** Made-up readings and batches for archive tests and benchmarks (signatures are not checked there). */
export const deviceName = (n: number) => n.toString(16).padStart(64, "0");
export const FEED_A = `0x${"a".repeat(64)}` as Hex;
export const FEED_B = `0x${"b".repeat(64)}` as Hex;

/** `count` readings of device `dev` from sequence `first`, a second apart, alternating feeds. */
export function readingsOf(dev: number, first: number, count: number, t0 = 1_700_000_000): StoredReading[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = first + i;
    return {
      id: `${deviceName(dev)}:${seq}`,
      deviceId: `0x${deviceName(dev)}` as Hex,
      feedId: i % 2 ? FEED_B : FEED_A,
      value: String(-500 + seq),
      timestamp: String(t0 + seq),
      sequence: String(seq),
      signature: `0x${"1".repeat(128)}` as Hex,
      curve: "p256",
      receivedAt: 1_700_000_000_000 + seq,
    };
  });
}

export function batchOf(readings: StoredReading[], committedAt = Date.now()): CommittedBatch {
  return {
    root: buildReadingTree(readings.map(toReading)).root as Hex,
    ids: readings.map((r) => r.id),
    txHash: `0x${"c".repeat(64)}`,
    blockNumber: "42",
    gasUsed: "50000",
    committedAt,
  };
}
