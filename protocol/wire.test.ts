import { describe, expect, it } from "vitest";
import { outcomeOf } from "../testkit/outcome.js";
import { MalformedPayloadError, ReadingRejectedError } from "./errors.js";
import { feedIdOf, UINT64_MAX } from "./reading.js";
import { signDigest } from "./signature.js";
import {
  decodeReadingMessage,
  deviceNameFromTopic,
  encodeReadingMessage,
  MAX_PAYLOAD_BYTES,
  peekSequence,
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
const reason = (fn: () => unknown) => outcomeOf(fn, ReadingRejectedError, (e) => e.reason, "accepted");

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

describe("canonical form (docs/PROTOCOL.md, Reading payload)", () => {
  const canonical = JSON.stringify(good);
  const text = (s: string) => new TextEncoder().encode(s);
  const withTimestamp = (t: string) => text(canonical.replace('"timestamp":1767225600', `"timestamp":${t}`));

  it("accepts the members in any order with JSON whitespace between tokens, decoding the same reading", () => {
    const spaced = `\r\n { "signature" :\t"${good.signature}", "sequence":"7","timestamp": 1767225600,"value":"-42",\n"feedId":"${good.feedId.toUpperCase().replace("0X", "0x")}", "v":1 }\n`;
    expect(decodeReadingMessage(name, text(spaced))).toEqual(decodeReadingMessage(name, text(canonical)));
  });

  it.each([
    ["an extra member", text(canonical.replace("}", ',"extra":0}')), "malformed"],
    ["a duplicate member", text(canonical.replace("}", ',"value":"1"}')), "malformed"],
    ["a missing member", enc({ ...good, signature: undefined }), "malformed"],
    ["a -0 timestamp", withTimestamp("-0"), "malformed"],
    ["an exponent", withTimestamp("1767225600e0"), "malformed"],
    ["a fraction", withTimestamp("1767225600.0"), "malformed"],
    ["a leading zero", withTimestamp("01767225600"), "malformed"],
    ["a number beyond 2^53", withTimestamp("9007199254740993"), "malformed"],
    ["a number of 400 digits", withTimestamp("9".repeat(400)), "malformed"],
    ["a \\u escape", text(canonical.replace('"sequence":"7"', '"sequence":"\\u0037"')), "malformed"],
    ["an escaped member name", text(canonical.replace('"v":1', '"\\u0076":1')), "malformed"],
    ['a "-0" value', enc({ ...good, value: "-0" }), "malformed"],
    ["a nested value", text(canonical.replace('"value":"-42"', '"value":[["-42"]]')), "malformed"],
    ["a byte-order mark", text(`\ufeff${canonical}`), "malformed"],
    ["a no-break space", text(canonical.replace(",", "\u00a0,")), "malformed"],
    ["a second object", text(canonical + canonical), "malformed"],
    [
      "a non-ASCII byte in a string",
      text(canonical.replace('"sequence":"7"', '"sequence":"7é"')),
      "malformed",
    ],
    ["a version 1.0", text(canonical.replace('"v":1', '"v":1.0')), "malformed"],
    ["a version as a string", enc({ ...good, v: "1" }), "unsupported_version"],
    ["version 2 with members unknown to v1", enc({ v: 2, reading: "x", extra: 1 }), "unsupported_version"],
  ])("refuses %s", (_what, payload, expected) => {
    expect(reason(() => decodeReadingMessage(name, payload))).toBe(expected);
  });

  it("names the fault in the details without echoing more than 8 bytes of input", () => {
    const marker = "A".repeat(500);
    try {
      decodeReadingMessage(name, text(canonical.replace("}", `,"${marker}":0}`)));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(MalformedPayloadError);
      const details = (err as MalformedPayloadError).details ?? "";
      expect(details).toContain("unknown member");
      expect(details).not.toContain("A".repeat(9));
    }
  });
});

describe("peekSequence", () => {
  /** A view of `bytes` that records the highest index read. */
  const watched = (bytes: Uint8Array) => {
    const seen = { max: -1 };
    const proxy = new Proxy(bytes, {
      get(target, key) {
        if (typeof key === "string" && /^[0-9]+$/.test(key)) seen.max = Math.max(seen.max, Number(key));
        return target[key as keyof Uint8Array];
      },
    });
    return { proxy: proxy as ArrayLike<number>, seen };
  };
  const fastest = (fn: () => unknown) => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      fn();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  const canonical = new TextEncoder().encode(JSON.stringify(good));

  it("returns the sequence of a canonical payload and of one refused for another fault", () => {
    expect(peekSequence(canonical)).toBe("7");
    expect(peekSequence(enc({ ...good, v: 2 }))).toBe("7");
    expect(peekSequence(enc({ sequence: "18446744073709551615", junk: [1] }))).toBe("18446744073709551615");
  });

  it.each([
    ["no sequence", enc({ ...good, sequence: undefined })],
    ["a numeric sequence", enc({ ...good, sequence: 7 })],
    ["a leading zero", enc({ ...good, sequence: "07" })],
    ["a sequence beyond uint64", enc({ ...good, sequence: (UINT64_MAX + 1n).toString() })],
    ["two sequences", new TextEncoder().encode('{"sequence":"1","sequence":"2"}')],
    ["not JSON", new TextEncoder().encode("sequence 7")],
  ])("returns null for %s", (_what, payload) => {
    expect(peekSequence(payload)).toBeNull();
  });

  it.each([
    ["a 16 MiB string", 0x20, '{"sequence":"5","value":"', "5"],
    ["16 MiB of nesting after the sequence", 0x5b, '{"sequence":"9","v":', "9"],
    ["16 MiB of nesting", 0x5b, "", null],
  ])("reads at most MAX_PAYLOAD_BYTES of %s, within a few milliseconds", (_what, fill, prefix, expected) => {
    const big = new Uint8Array(16 << 20).fill(fill);
    big.set(new TextEncoder().encode(prefix), 0);
    const { proxy, seen } = watched(big);
    expect(peekSequence(proxy)).toBe(expected);
    expect(seen.max).toBeLessThan(MAX_PAYLOAD_BYTES);
    expect(fastest(() => peekSequence(big))).toBeLessThan(5);
    expect(reason(() => decodeReadingMessage(name, big))).toBe("oversized");
  });
});
