import { describe, expect, it } from "vitest";
import { MalformedPayloadError, ReadingRejectedError } from "./errors.js";
import { feedIdOf, UINT64_MAX } from "./reading.js";
import { signDigest } from "./signature.js";
import {
  decodeReadingMessage,
  deviceNameFromTopic,
  encodeReadingMessage,
  MAX_PAYLOAD_BYTES,
} from "./wire.js";

const name = "ab".repeat(32);
const good = {
  v: 1,
  feedId: feedIdOf("f"),
  value: "-42",
  timestamp: 1767225600,
  sequence: "7",
  signature: `0x${"11".repeat(64)}`,
};
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof ReadingRejectedError ? e.reason : `other:${String(e)}`;
  }
  return "accepted";
};

describe("reading wire format v1", () => {
  it("round-trips a reading, taking the device id from the topic", () => {
    const reading = {
      deviceId: `0x${name}` as const,
      feedId: feedIdOf("f"),
      value: -5n,
      timestamp: 10n,
      sequence: UINT64_MAX,
    };
    const sig = signDigest("p256", new Uint8Array(32).fill(1), `0x${"22".repeat(32)}`);
    const out = decodeReadingMessage(name, new TextEncoder().encode(encodeReadingMessage(reading, sig)));
    expect(out.reading).toEqual(reading);
    expect(Buffer.from(out.signature)).toEqual(Buffer.from(sig));
  });

  it.each([
    ["not JSON", new TextEncoder().encode("{"), "malformed"],
    ["an array", enc([1]), "malformed"],
    ["another version", enc({ ...good, v: 2 }), "unsupported_version"],
    ["a short feed id", enc({ ...good, feedId: "0x12" }), "malformed"],
    ["a numeric value", enc({ ...good, value: 5 }), "malformed"],
    ["a value beyond int256", enc({ ...good, value: (1n << 255n).toString() }), "malformed"],
    ["a fractional timestamp", enc({ ...good, timestamp: 1.5 }), "malformed"],
    ["a negative sequence", enc({ ...good, sequence: "-1" }), "malformed"],
    ["a sequence beyond uint64", enc({ ...good, sequence: (UINT64_MAX + 1n).toString() }), "malformed"],
    ["a 65-byte signature", enc({ ...good, signature: `0x${"11".repeat(65)}` }), "malformed"],
    ["an oversized payload", new Uint8Array(MAX_PAYLOAD_BYTES + 1).fill(32), "oversized"],
  ])("rejects %s with a typed reason", (_what, payload, expected) => {
    expect(reason(() => decodeReadingMessage(name, payload))).toBe(expected);
  });

  it("raises MalformedPayloadError for bad JSON", () => {
    expect(() => decodeReadingMessage(name, new TextEncoder().encode("x"))).toThrow(MalformedPayloadError);
  });

  it("only takes device names from readings topics", () => {
    expect(deviceNameFromTopic(`so/v1/devices/${name}/readings`)).toBe(name);
    expect(deviceNameFromTopic(`so/v1/devices/${name}/acks`)).toBeNull();
    expect(deviceNameFromTopic(`so/v1/devices/${name.toUpperCase()}/readings`)).toBeNull();
  });
});
