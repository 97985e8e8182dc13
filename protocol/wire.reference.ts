import { type Hex, isHex } from "viem";
import { INT256_MAX, INT256_MIN, type Reading, UINT64_MAX } from "./reading.js";
import { MAX_PAYLOAD_BYTES } from "./wire.js";

// Test oracles only (the fuzz test and the decode benchmark); product code never imports this file.

type Decoded = { reading: Reading; signature: Uint8Array };
const MEMBERS = ["v", "feedId", "value", "timestamp", "sequence", "signature"];

/**
 * The JSON.parse-based decoder this module had before the canonical one (base 4c3c78c), its checks
 * copied unchanged, returning null where it threw.
 */
export function decodeBeforeHardening(deviceName: string, payload: Uint8Array): Decoded | null {
  if (payload.length > MAX_PAYLOAD_BYTES) return null;
  let msg: unknown;
  try {
    msg = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    return null;
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return null;
  const m = msg as Record<string, unknown>;
  if (m.v !== 1) return null;
  if (typeof m.feedId !== "string" || !isHex(m.feedId, { strict: true }) || m.feedId.length !== 66)
    return null;
  if (typeof m.value !== "string" || !/^-?(0|[1-9][0-9]*)$/.test(m.value)) return null;
  const value = BigInt(m.value);
  if (value < INT256_MIN || value > INT256_MAX) return null;
  if (typeof m.timestamp !== "number" || !Number.isSafeInteger(m.timestamp) || m.timestamp < 0) return null;
  if (typeof m.sequence !== "string" || !/^(0|[1-9][0-9]*)$/.test(m.sequence)) return null;
  const sequence = BigInt(m.sequence);
  if (sequence > UINT64_MAX) return null;
  if (typeof m.signature !== "string" || !isHex(m.signature, { strict: true }) || m.signature.length !== 130)
    return null;
  return {
    reading: {
      deviceId: `0x${deviceName}`,
      feedId: m.feedId.toLowerCase() as Hex,
      value,
      timestamp: BigInt(m.timestamp),
      sequence,
    },
    signature: Buffer.from(m.signature.slice(2), "hex"),
  };
}

/**
 * The oracle of the canonical decoder: what decodeBeforeHardening gives, for payloads that also
 * meet the canonical conditions written independently of the scanner; null for any other payload.
 */
export function referenceDecode(deviceName: string, payload: Uint8Array): Decoded | null {
  const decoded = decodeBeforeHardening(deviceName, payload);
  if (!decoded) return null;
  const text = Buffer.from(payload).toString("utf8");
  const m = JSON.parse(text) as Record<string, unknown>;
  // Exactly the six members, each once, and the text is what JSON.stringify writes of what it
  // parsed to (no escapes, -0, exponents, fractions or duplicates) up to whitespace between
  // tokens; "-0" is not the canonical zero value. Valid member strings hold no whitespace.
  if (Object.keys(m).length !== 6 || !MEMBERS.every((k) => k in m)) return null;
  if (text.replace(/[ \t\n\r]/g, "") !== JSON.stringify(m)) return null;
  if (decoded.reading.value.toString() !== m.value) return null;
  return decoded;
}
