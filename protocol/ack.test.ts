import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AckMessage,
  DEFAULT_RETRY_AFTER_MS,
  decodeAck,
  encodeAck,
  MAX_ACK_BYTES,
  MAX_RETRY_AFTER_MS,
  outboxActionOf,
  rejectionAck,
} from "./ack.js";
import { ReadingRejectedError } from "./errors.js";

const bytes = (s: string) => new TextEncoder().encode(s);

/** The decodeAck of agents released before the hardening (copied from the base commit). */
function decodeAckBeforeHardening(payload: Uint8Array): { status: string; reason?: string } | null {
  try {
    const m = JSON.parse(Buffer.from(payload).toString("utf8"));
    return m && m.v === 1 && (m.status === "queued" || m.status === "rejected") ? m : null;
  } catch {
    return null;
  }
}
/** What such an agent did with an answer: drop everything but rejected/rate_limited. */
const oldAgentDrops = (payload: Uint8Array) => {
  const ack = decodeAckBeforeHardening(payload);
  return ack !== null && !(ack.status === "rejected" && ack.reason === "rate_limited");
};

const examples: [string, AckMessage][] = [
  ['{"v":1,"sequence":"42","status":"queued"}', { v: 1, sequence: "42", status: "queued" }],
  [
    '{"v":1,"sequence":"42","status":"rejected","reason":"bad_signature"}',
    { v: 1, sequence: "42", status: "rejected", reason: "bad_signature" },
  ],
  [
    '{"v":1,"sequence":null,"status":"rejected","reason":"malformed"}',
    { v: 1, sequence: null, status: "rejected", reason: "malformed" },
  ],
  [
    '{"v":1,"sequence":"42","status":"rejected","reason":"replay"}',
    { v: 1, sequence: "42", status: "rejected", reason: "replay" },
  ],
  [
    '{"v":1,"sequence":"42","status":"rejected","reason":"rate_limited","retryAfterMs":1500}',
    { v: 1, sequence: "42", status: "rejected", reason: "rate_limited", retryAfterMs: 1500 },
  ],
  [
    '{"v":1,"sequence":"42","status":"retry","reason":"unavailable","retryAfterMs":5000}',
    { v: 1, sequence: "42", status: "retry", reason: "unavailable", retryAfterMs: 5000 },
  ],
  [
    '{"v":1,"sequence":"42","status":"unconfirmed","reason":"outside_window"}',
    { v: 1, sequence: "42", status: "unconfirmed", reason: "outside_window" },
  ],
];

describe("acknowledgements", () => {
  it.each(examples)("encodes and decodes %s", (json, ack) => {
    expect(encodeAck(ack)).toBe(json);
    expect(decodeAck(bytes(json))).toEqual(ack);
  });

  it("decodes the members in any order", () => {
    expect(
      decodeAck(
        bytes('{ "status":"retry","retryAfterMs":5000,"reason":"unavailable","sequence":"1","v":1 }'),
      ),
    ).toEqual({ v: 1, sequence: "1", status: "retry", reason: "unavailable", retryAfterMs: 5000 });
  });

  it.each([
    ["an unknown status", '{"v":1,"sequence":"1","status":"busy","reason":"unavailable","retryAfterMs":5}'],
    ["queued with a reason", '{"v":1,"sequence":"1","status":"queued","reason":"replay"}'],
    ["queued without a sequence", '{"v":1,"sequence":null,"status":"queued"}'],
    ["rejected without a reason", '{"v":1,"sequence":"1","status":"rejected"}'],
    [
      "retryAfterMs on a final rejection",
      '{"v":1,"sequence":"1","status":"rejected","reason":"revoked","retryAfterMs":5}',
    ],
    ["retry without retryAfterMs", '{"v":1,"sequence":"1","status":"retry","reason":"unavailable"}'],
    [
      "a retryAfterMs beyond an hour",
      `{"v":1,"sequence":"1","status":"retry","reason":"unavailable","retryAfterMs":${MAX_RETRY_AFTER_MS + 1}}`,
    ],
    [
      "a fractional retryAfterMs",
      '{"v":1,"sequence":"1","status":"retry","reason":"unavailable","retryAfterMs":1.5}',
    ],
    ["unconfirmed for another reason", '{"v":1,"sequence":"1","status":"unconfirmed","reason":"replay"}'],
    [
      "unconfirmed without a sequence",
      '{"v":1,"sequence":null,"status":"unconfirmed","reason":"outside_window"}',
    ],
    ["an extra member", '{"v":1,"sequence":"1","status":"queued","delivered":true}'],
    ["a duplicate member", '{"v":1,"sequence":"1","status":"rejected","status":"queued"}'],
    ["an escaped status", '{"v":1,"sequence":"1","status":"\\u0071ueued"}'],
    ["a sequence with a leading zero", '{"v":1,"sequence":"01","status":"queued"}'],
    ["a numeric sequence", '{"v":1,"sequence":1,"status":"queued"}'],
    ["another version", '{"v":2,"sequence":"1","status":"queued"}'],
    ["a reason with capitals", '{"v":1,"sequence":"1","status":"rejected","reason":"Replay"}'],
    ["nesting", '{"v":1,"sequence":"1","status":"queued","x":{"y":[]}}'],
    ["an oversized ack", `{"v":1,"sequence":"1","status":"queued"}${" ".repeat(MAX_ACK_BYTES)}`],
    ["not JSON", "queued"],
  ])("refuses %s", (_what, json) => {
    expect(decodeAck(bytes(json))).toBeNull();
  });

  it("never throws, and round-trips whatever it accepts", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json({ maxDepth: 2 }).map(bytes)),
        (payload) => {
          const ack = decodeAck(payload);
          if (ack) expect(decodeAck(bytes(encodeAck(ack)))).toEqual(ack);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it("is bounded on a 16 MiB answer", () => {
    const huge = new Uint8Array(16 << 20).fill(0x5b);
    const t = performance.now();
    expect(decodeAck(huge)).toBeNull();
    expect(performance.now() - t).toBeLessThan(50);
  });

  it("never makes an agent that predates the new answers drop a reading the bridge does not hold", () => {
    for (const [json, ack] of examples) {
      if (outboxActionOf(ack).action !== "drop") expect(oldAgentDrops(bytes(json)), json).toBe(false);
    }
  });
});

describe("rejectionAck and outboxActionOf", () => {
  const err = (reason: ReadingRejectedError["reason"], retryAfterMs?: number) =>
    new ReadingRejectedError(reason, "refused", retryAfterMs === undefined ? {} : { retryAfterMs });

  it.each([
    [
      err("bad_signature"),
      { status: "rejected", reason: "bad_signature" },
      { action: "drop", delivered: false },
    ],
    [err("replay"), { status: "rejected", reason: "replay" }, { action: "drop", delivered: true }],
    [
      err("rate_limited", 2500),
      { status: "rejected", reason: "rate_limited", retryAfterMs: 2500 },
      { action: "resend", afterMs: 2500 },
    ],
    [
      err("unavailable"),
      { status: "retry", reason: "unavailable", retryAfterMs: DEFAULT_RETRY_AFTER_MS },
      { action: "resend", afterMs: DEFAULT_RETRY_AFTER_MS },
    ],
    [
      err("unavailable", 10 * MAX_RETRY_AFTER_MS),
      { status: "retry", reason: "unavailable", retryAfterMs: MAX_RETRY_AFTER_MS },
      { action: "resend", afterMs: MAX_RETRY_AFTER_MS },
    ],
    [err("outside_window"), { status: "unconfirmed", reason: "outside_window" }, { action: "hold" }],
  ])("answers %s and tells the device what to do", (e, expected, action) => {
    const ack = rejectionAck(e, "9");
    expect(ack).toEqual({ v: 1, sequence: "9", ...expected });
    expect(decodeAck(bytes(encodeAck(ack)))).toEqual(ack);
    expect(outboxActionOf(ack)).toEqual(action);
  });

  it("takes a queued answer as delivered, and a rate_limited one from an older bridge as a resend", () => {
    expect(outboxActionOf({ v: 1, sequence: "1", status: "queued" })).toEqual({
      action: "drop",
      delivered: true,
    });
    expect(outboxActionOf({ v: 1, sequence: "1", status: "rejected", reason: "rate_limited" })).toEqual({
      action: "resend",
      afterMs: DEFAULT_RETRY_AFTER_MS,
    });
  });
});
