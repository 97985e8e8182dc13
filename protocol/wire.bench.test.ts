import { describe, expect, it } from "vitest";
import { feedIdOf } from "./reading.js";
import { decodeReadingMessage } from "./wire.js";
import { decodeBeforeHardening } from "./wire.reference.js";

const name = "ab".repeat(32);
/** Payloads as devices send them (encodeReadingMessage's member order), sequences growing. */
const payloads = Array.from({ length: 1_000 }, (_, i) =>
  Buffer.from(
    JSON.stringify({
      v: 1,
      feedId: feedIdOf(`cold-room-${i}/temperature`),
      value: String(-1850 + i),
      timestamp: 1767225600 + i,
      sequence: String(1_000_000 + i),
      signature: `0x${Buffer.alloc(64, i).toString("hex")}`,
    }),
  ),
);

/** Microseconds per decode of one payload: the fastest of `rounds` passes over all payloads. */
function perDecode(decode: (deviceName: string, payload: Uint8Array) => unknown, rounds: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (const p of payloads) decode(name, p);
    best = Math.min(best, performance.now() - t);
  }
  return (best * 1000) / payloads.length;
}

describe("decode cost per valid payload", () => {
  it("is not above the JSON.parse-based decoder's by more than 20%", () => {
    // Warm both up, then interleave so load from other processes hits them alike.
    perDecode(decodeBeforeHardening, 50);
    perDecode(decodeReadingMessage, 50);
    let before = Number.POSITIVE_INFINITY;
    let after = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      before = Math.min(before, perDecode(decodeBeforeHardening, 10));
      after = Math.min(after, perDecode(decodeReadingMessage, 10));
    }
    console.log(
      `decode per valid payload: JSON.parse + checks ${before.toFixed(2)} µs, canonical scanner ${after.toFixed(2)} µs (${((after / before) * 100).toFixed(0)}%)`,
    );
    expect(after).toBeLessThan(before * 1.2);
  });
});
