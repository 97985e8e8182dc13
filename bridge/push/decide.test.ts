import type { Hex } from "viem";
import { describe, expect, it } from "vitest";
import type { StoredReading } from "../store/types.js";
import { decidePush, deviates, median, type PushedFeed } from "./decide.js";

const feed: PushedFeed = { feedId: `0x${"fe".repeat(32)}`, deviationBps: 100, heartbeatSec: 60 };
const reading = (device: string, value: bigint, sequence = 1): StoredReading => ({
  id: `${device.repeat(32)}:${sequence}`,
  deviceId: `0x${device.repeat(32)}` as Hex,
  feedId: feed.feedId,
  value: value.toString(),
  timestamp: "1767225600",
  sequence: sequence.toString(),
  signature: "0x00",
  curve: "p256",
  receivedAt: 0,
});
const pushed = (value: bigint, at: number, ...readings: StoredReading[]) => ({
  value,
  at,
  sent: new Set(readings.map((r) => r.id)),
});

describe("which feeds are due (the pusher's decision)", () => {
  it("takes the median, the mean of the middle two for an even count", () => {
    expect(median([5n])).toBe(5n);
    expect(median([9n, 1n, 5n])).toBe(5n);
    expect(median([1n, 9n, 3n, 5n])).toBe(4n);
    expect(median([-10n, -2n])).toBe(-6n);
  });

  it("measures a deviation relative to the last value, in basis points", () => {
    expect(deviates(505n, 500n, 100)).toBe(true); // exactly 1%
    expect(deviates(502n, 500n, 100)).toBe(false); // 0.4%
    expect(deviates(-505n, -500n, 100)).toBe(true);
    expect(deviates(1n, 0n, 100)).toBe(true);
    expect(deviates(0n, 0n, 100)).toBe(false);
  });

  it("pushes a feed never pushed, with all its readings", () => {
    const rs = [reading("aa", 500n), reading("bb", 700n)];
    expect(decidePush(feed, rs, undefined, 0)).toEqual({ value: 600n, fresh: rs });
  });

  it("pushes nothing without readings, or when every reading was sent before", () => {
    const r = reading("aa", 500n);
    expect(decidePush(feed, [], undefined, 0)).toBeNull();
    expect(decidePush(feed, [r], pushed(400n, 0, r), 3_600_000)).toBeNull();
  });

  it("skips a small move, pushes a large one, and pushes a small one once the heartbeat is due", () => {
    const first = reading("aa", 500n, 1);
    const last = pushed(500n, 1_000, first);
    const small = reading("aa", 502n, 2);
    expect(decidePush(feed, [small], last, 2_000)).toBeNull();
    expect(decidePush(feed, [small], last, 61_000)).toEqual({ value: 502n, fresh: [small] });
    const large = reading("aa", 600n, 3);
    expect(decidePush(feed, [large], last, 2_000)).toEqual({ value: 600n, fresh: [large] });
  });

  it("sends only the readings not sent before, and decides on the median of all", () => {
    const a = reading("aa", 500n);
    const b = reading("bb", 900n, 2);
    expect(decidePush(feed, [a, b], pushed(500n, 0, a), 1)).toEqual({ value: 700n, fresh: [b] });
  });
});
