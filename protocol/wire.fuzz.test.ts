import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REJECTION_REASONS, ReadingRejectedError } from "./errors.js";
import { INT256_MAX, INT256_MIN, UINT64_MAX } from "./reading.js";
import { decodeReadingMessage, MAX_PAYLOAD_BYTES, peekSequence } from "./wire.js";
import { referenceDecode } from "./wire.reference.js";

const name = "cd".repeat(32);
const utf8 = (s: string) => new TextEncoder().encode(s);
const MEMBERS = ["v", "feedId", "value", "timestamp", "sequence", "signature"] as const;

/** The property every input must satisfy. */
function checkAgainstReference(payload: Uint8Array): void {
  const expected = referenceDecode(name, payload);
  let got: ReturnType<typeof decodeReadingMessage> | undefined;
  let error: unknown;
  try {
    got = decodeReadingMessage(name, payload);
  } catch (err) {
    error = err;
  }
  if (error !== undefined) {
    if (!(error instanceof ReadingRejectedError)) throw error;
    expect(REJECTION_REASONS).toContain(error.reason);
    expect(error.details?.length ?? 0).toBeLessThan(120);
    expect(expected, `refused ${error.details}`).toBeNull();
  } else {
    expect(expected, "accepted a payload that is not canonical").not.toBeNull();
    expect(got).toEqual(expected);
  }
  const peeked = peekSequence(payload);
  if (peeked !== null) expect(peeked).toMatch(/^(0|[1-9][0-9]{0,19})$/);
  if (got) expect(peeked).toBe(got.reading.sequence.toString());
}

const hexDigits = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString("hex"));

/** Member values of a valid reading, as JSON text. */
const validMembers = fc.record({
  v: fc.constant("1"),
  feedId: fc.oneof(hexDigits(32), fc.mixedCase(hexDigits(32))).map((h) => `"0x${h}"`),
  value: fc.bigInt({ min: INT256_MIN, max: INT256_MAX }).map((x) => `"${x}"`),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.maxSafeNat()).map(String),
  sequence: fc.bigInt({ min: 0n, max: UINT64_MAX }).map((x) => `"${x}"`),
  signature: hexDigits(64).map((h) => `"0x${h}"`),
});

const whitespace = fc.stringMatching(/^[ \t\n\r]{0,3}$/);

/** A valid payload: members in any order, JSON whitespace anywhere between tokens. */
const canonicalText = fc
  .tuple(
    validMembers,
    fc.shuffledSubarray([...MEMBERS], { minLength: 6, maxLength: 6 }),
    fc.array(whitespace, { minLength: 40, maxLength: 40 }),
  )
  .map(([values, order, ws]) => {
    const w = (i: number) => ws[i % ws.length] ?? "";
    const body = order.map(
      (k, i) => `${w(4 * i)}"${k}"${w(4 * i + 1)}:${w(4 * i + 2)}${values[k]}${w(4 * i + 3)}`,
    );
    return `${w(39)}{${body.join(",")}}${w(38)}`;
  });

/** Mostly sizes around the payload limit, sometimes the huge one. */
const big = (huge: number) =>
  fc.oneof({ arbitrary: fc.integer({ min: 1, max: 2 * MAX_PAYLOAD_BYTES }), weight: 9 }, fc.constant(huge));

/** Ways to break a valid payload, each a function of its text. */
const mutation: fc.Arbitrary<(text: string) => string> = fc.oneof(
  fc
    .jsonValue({ maxDepth: 3 })
    .map((j) => (t: string) => t.replace(/}\s*$/, `,"extra":${JSON.stringify(j)}}`)),
  fc.constantFrom(...MEMBERS).map((k) => (t: string) => {
    const member = new RegExp(`"${k}"\\s*:\\s*("[^"]*"|[0-9]+)`).exec(t)?.[0] ?? "";
    return t.replace(/}\s*$/, `,${member}}`);
  }),
  fc.nat().map((n) => (t: string) => {
    // One string character as a \u escape of itself.
    const quoted = [...t.matchAll(/"([^"]+)"/g)];
    const q = quoted[n % quoted.length];
    if (!q || q.index === undefined) return t;
    const at = q.index + 1 + (n % (q[1]?.length ?? 1));
    return `${t.slice(0, at)}\\u${t.charCodeAt(at).toString(16).padStart(4, "0")}${t.slice(at + 1)}`;
  }),
  fc
    .constantFrom(
      "-0",
      "0e0",
      "1e3",
      "1E3",
      "1.0",
      "1.5",
      "01",
      "-1",
      "1e400",
      "123456789012345678901234567890",
      "+1",
      "0x10",
      "true",
      "null",
      '"1"',
    )
    .chain((num) =>
      fc
        .constantFrom("v", "timestamp")
        .map((k) => (t: string) => t.replace(new RegExp(`("${k}"\\s*:\\s*)[0-9]+`), `$1${num}`)),
    ),
  fc
    .constantFrom("-0", "00", "-01", "+1", " 1", "1e3", "0x1", "٣")
    .map((x) => (t: string) => t.replace(/("value"\s*:\s*)"[^"]*"/, `$1"${x}"`)),
  big(200_000).map(
    (depth) => (t: string) =>
      t.replace(/("value"\s*:\s*)"[^"]*"/, `$1${"[".repeat(depth)}${"]".repeat(depth)}`),
  ),
  big(1 << 20).map((n) => (t: string) => t.replace(/("value"\s*:\s*)"/, `$1"${"7".repeat(n)}`)),
  fc
    .constantFrom("\ufeff", "\u00a0", "\u2028", "\u000b", "\u000c", "\u0000")
    .map((c) => (t: string) => `${c}${t}`),
  fc
    .constantFrom("\u00a0", "\u2028", "\u000b", "\u000c", "\u0085")
    .map((c) => (t: string) => t.replace(/,/, `${c},`)),
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
  fc.tuple(fc.nat(), fc.string({ unit: "binary", maxLength: 4 })).map(([n, s]) => (t: string) => {
    const at = n % (t.length + 1);
    return t.slice(0, at) + s + t.slice(at + (n % 3));
  }),
);

describe("canonical decoding, fuzzed against the JSON.parse-based reference", () => {
  it("decodes every valid payload exactly as the reference does", () => {
    fc.assert(
      fc.property(canonicalText, (text) => {
        const payload = utf8(text);
        fc.pre(payload.length <= MAX_PAYLOAD_BYTES);
        expect(referenceDecode(name, payload)).not.toBeNull();
        checkAgainstReference(payload);
      }),
      { numRuns: 3_000 },
    );
  });

  it("refuses every mutation the reference calls non-canonical, with a typed reason", () => {
    fc.assert(
      fc.property(canonicalText, fc.array(mutation, { minLength: 1, maxLength: 3 }), (text, muts) => {
        checkAgainstReference(utf8(muts.reduce((t, f) => f(t), text)));
      }),
      { numRuns: 6_000 },
    );
  });

  it("never throws anything but a ReadingRejectedError on random bytes or random JSON", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1100 }),
          fc.json({ maxDepth: 4 }).map(utf8),
          fc
            .dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }))
            .map((o) => utf8(JSON.stringify(o))),
        ),
        checkAgainstReference,
      ),
      { numRuns: 6_000 },
    );
  });
});
