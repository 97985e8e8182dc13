import type { Hex } from "viem";
import { MalformedPayloadError, ReadingRejectedError } from "./errors.js";
import {
  asciiOf,
  bytesEqual,
  FlatObjectScan,
  isUnsignedDecimal,
  NUMBER_VALUE,
  STRING_VALUE,
  uint64Of,
} from "./flat-json.js";
import { deviceNameToId, INT256_MAX, INT256_MIN, type Reading } from "./reading.js";

/** Version of the wire format this module speaks. */
export const WIRE_VERSION = 1;
/** Largest reading payload accepted, in bytes; checked before any byte is decoded. */
export const MAX_PAYLOAD_BYTES = 1024;
/**
 * How far a reading's timestamp may lie ahead of the bridge's clock, in seconds (the default of the
 * bridge's setting). A reading dated further ahead is refused as `future_timestamp` and never
 * counts as fresh.
 */
export const MAX_FUTURE_SKEW_SEC = 30;

/** Topic prefix; a device publishes under its own name only (broker ACL). */
export const TOPIC_PREFIX = "so/v1/devices";
export const readingsTopic = (deviceName: string) => `${TOPIC_PREFIX}/${deviceName}/readings`;
export const acksTopic = (deviceName: string) => `${TOPIC_PREFIX}/${deviceName}/acks`;
/** Every device's readings topic. */
export const ALL_READINGS = `${TOPIC_PREFIX}/+/readings`;
/**
 * The share group of bridges that configure none. Guessable, so a device could join it and take
 * its turn of the group's messages (Mosquitto 2.0's acl_file does not check SUBSCRIBE): a fleet
 * sets a secret group name (`mqtt.shareGroup`; `sensor-oracle broker config` makes one).
 */
export const DEFAULT_SHARE_GROUP = "sensor-oracle";
/** A share group name: what MQTT 5 allows in one (no "/", "+", "#"), kept to a safe alphabet. */
export const SHARE_GROUP = /^[A-Za-z0-9_-]{1,64}$/;
/** What bridges subscribe to: an MQTT 5 shared subscription over every device's readings. */
export const bridgeSubscription = (shareGroup: string = DEFAULT_SHARE_GROUP) => {
  if (!SHARE_GROUP.test(shareGroup)) throw new RangeError("share group: 1 to 64 of A-Z a-z 0-9 _ -");
  return `$share/${shareGroup}/${ALL_READINGS}`;
};
export const BRIDGE_SUBSCRIPTION = bridgeSubscription();

const DEVICE_NAME = /^[0-9a-f]{64}$/;
const READINGS_TOPIC = /^so\/v1\/devices\/([0-9a-f]{64})\/readings$/;

/** The device name in a readings topic, or null. */
export function deviceNameFromTopic(topic: string): string | null {
  return READINGS_TOPIC.exec(topic)?.[1] ?? null;
}

export function isDeviceName(name: string): boolean {
  return DEVICE_NAME.test(name);
}

/** A reading message as a device publishes it (JSON, UTF-8). */
export type ReadingMessage = {
  v: 1;
  feedId: Hex;
  value: string;
  timestamp: number;
  sequence: string;
  signature: Hex;
};

export function encodeReadingMessage(reading: Reading, signature: Uint8Array): string {
  const msg: ReadingMessage = {
    v: WIRE_VERSION,
    feedId: reading.feedId,
    value: reading.value.toString(),
    timestamp: Number(reading.timestamp),
    sequence: reading.sequence.toString(),
    signature: `0x${Buffer.from(signature).toString("hex")}`,
  };
  return JSON.stringify(msg);
}

// The members of a v1 reading, by index; a bit per index marks it seen.
const V = 0;
const FEED_ID = 1;
const VALUE = 2;
const TIMESTAMP = 3;
const SEQUENCE = 4;
const SIGNATURE = 5;
const MEMBER_NAMES = ["v", "feedId", "value", "timestamp", "sequence", "signature"] as const;
const ALL_MEMBERS = (1 << MEMBER_NAMES.length) - 1;
/** More members than a v1 reading has, so a v2 payload with a few more still gets its `v` read. */
const MAX_MEMBERS = 16;

const readingScan = new FlatObjectScan(MAX_MEMBERS);
const peekScan = new FlatObjectScan(MAX_MEMBERS);

function memberIndex(b: ArrayLike<number>, start: number, end: number): number {
  switch (end - start) {
    case 1:
      return b[start] === 0x76 ? V : -1;
    case 5:
      return bytesEqual(b, start, end, "value") ? VALUE : -1;
    case 6:
      return bytesEqual(b, start, end, "feedId") ? FEED_ID : -1;
    case 8:
      return bytesEqual(b, start, end, "sequence") ? SEQUENCE : -1;
    case 9:
      if (bytesEqual(b, start, end, "timestamp")) return TIMESTAMP;
      return bytesEqual(b, start, end, "signature") ? SIGNATURE : -1;
    default:
      return -1;
  }
}

/** A short, safe rendering of a member name for error details: at most 8 bytes of it. */
function nameForDetails(b: ArrayLike<number>, start: number, end: number): string {
  return JSON.stringify(asciiOf(b, start, Math.min(end, start + 8))) + (end - start > 8 ? "…" : "");
}

/** The value of each hex digit (either case) by its byte, -1 for every other byte. */
const NIBBLE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE[i.toString(16).charCodeAt(0)] = i;
  NIBBLE[i.toString(16).toUpperCase().charCodeAt(0)] = i;
}

/** The `count` bytes that bytes[start..end) spell as `0x` and 2*count hex digits, or null. */
function hexBytesOf(b: ArrayLike<number>, start: number, end: number, count: number): Buffer | null {
  if (end - start !== 2 * count + 2 || b[start] !== 0x30 || b[start + 1] !== 0x78) return null;
  const out = Buffer.allocUnsafe(count);
  for (let i = 0, p = start + 2; i < count; i++, p += 2) {
    const hi = NIBBLE[b[p] as number] as number;
    const lo = NIBBLE[b[p + 1] as number] as number;
    if ((hi | lo) < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/**
 * Decode and validate a reading payload received on a device's topic (docs/PROTOCOL.md, "Reading
 * payload"): the size first, then one bounded pass over the bytes in the canonical form. Throws
 * ReadingRejectedError (`oversized`, `unsupported_version` or `malformed`, with details naming the
 * rule and byte offset, never more than 8 bytes of input).
 */
export function decodeReadingMessage(
  deviceName: string,
  payload: Uint8Array,
): { reading: Reading; signature: Uint8Array } {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new ReadingRejectedError("oversized", "Reading payload too large.", {
      details: `${payload.length} bytes, at most ${MAX_PAYLOAD_BYTES}`,
    });
  }
  const b = payload;
  // Buffer's latin1 and hex codecs over a view of the same bytes (no copy): the scanner proved
  // the ranges read through it to be ASCII.
  const text = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const scan = readingScan;
  scan.scan(b, b.length);
  const at = [-1, -1, -1, -1, -1, -1];
  let seen = 0;
  let unknown = -1;
  let duplicate = -1;
  for (let i = 0; i < scan.count; i++) {
    const m = memberIndex(b, scan.nameStart(i), scan.nameEnd(i));
    if (m < 0) {
      if (unknown < 0) unknown = i;
    } else if (seen & (1 << m)) {
      if (duplicate < 0) duplicate = m;
    } else {
      seen |= 1 << m;
      at[m] = i;
    }
  }
  if (duplicate >= 0) throw new MalformedPayloadError(`duplicate member "${MEMBER_NAMES[duplicate]}"`);
  const v = at[V] as number;
  if (v < 0) throw new MalformedPayloadError('missing member "v"');
  if (!(scan.kind(v) === NUMBER_VALUE && bytesEqual(b, scan.valueStart(v), scan.valueEnd(v), "1"))) {
    const shown =
      scan.kind(v) === NUMBER_VALUE ? asciiOf(b, scan.valueStart(v), scan.valueEnd(v)) : "not a number";
    throw new ReadingRejectedError("unsupported_version", "Unsupported wire version.", {
      details: `v=${shown}, this bridge speaks v=${WIRE_VERSION}`,
    });
  }
  if (unknown >= 0) {
    throw new MalformedPayloadError(
      `unknown member ${nameForDetails(b, scan.nameStart(unknown), scan.nameEnd(unknown))}`,
    );
  }
  if (seen !== ALL_MEMBERS) {
    const missing = MEMBER_NAMES.findIndex((_, m) => !(seen & (1 << m)));
    throw new MalformedPayloadError(`missing member "${MEMBER_NAMES[missing]}"`);
  }

  const f = at[FEED_ID] as number;
  const feedIdBytes =
    scan.kind(f) === STRING_VALUE ? hexBytesOf(b, scan.valueStart(f), scan.valueEnd(f), 32) : null;
  if (!feedIdBytes) throw new MalformedPayloadError("feedId must be 0x and 64 hex digits");
  const feedId: Hex = `0x${feedIdBytes.toString("hex")}`;

  const x = at[VALUE] as number;
  const xs = scan.valueStart(x);
  const negative = b[xs] === 0x2d;
  // int256 bounds have 77 digits; "-0" is not the canonical zero.
  if (
    scan.kind(x) !== STRING_VALUE ||
    !isUnsignedDecimal(b, negative ? xs + 1 : xs, scan.valueEnd(x), 77) ||
    (negative && b[xs + 1] === 0x30)
  ) {
    throw new MalformedPayloadError("value must be a decimal integer string");
  }
  const value = BigInt(text.toString("latin1", xs, scan.valueEnd(x)));
  if (value < INT256_MIN || value > INT256_MAX) throw new MalformedPayloadError("value out of int256 range");

  const t = at[TIMESTAMP] as number;
  const timestamp =
    scan.kind(t) === NUMBER_VALUE
      ? Number(text.toString("latin1", scan.valueStart(t), scan.valueEnd(t)))
      : -1;
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new MalformedPayloadError("timestamp must be a non-negative integer (seconds)");
  }

  const q = at[SEQUENCE] as number;
  if (scan.kind(q) !== STRING_VALUE || !isUnsignedDecimal(b, scan.valueStart(q), scan.valueEnd(q), 20)) {
    throw new MalformedPayloadError("sequence must be an unsigned decimal integer string");
  }
  const sequence = uint64Of(b, scan.valueStart(q), scan.valueEnd(q));
  if (sequence === null) throw new MalformedPayloadError("sequence out of uint64 range");

  const s = at[SIGNATURE] as number;
  const signature =
    scan.kind(s) === STRING_VALUE ? hexBytesOf(b, scan.valueStart(s), scan.valueEnd(s), 64) : null;
  if (!signature) throw new MalformedPayloadError("signature must be 0x and 128 hex digits (r||s)");
  return {
    reading: { deviceId: deviceNameToId(deviceName), feedId, value, timestamp: BigInt(timestamp), sequence },
    signature,
  };
}

/**
 * The sequence of a payload, for the acknowledgement of a refused one, or null. Bounded: it reads
 * at most the first MAX_PAYLOAD_BYTES bytes (nothing but indexed reads, so a payload of any size
 * costs the same) and takes the members scanned before the first fault or the end of that prefix.
 * Returns the `sequence` member only if it occurs once among them and is a canonical uint64 string.
 */
export function peekSequence(payload: ArrayLike<number>): string | null {
  const end = Math.min(payload.length, MAX_PAYLOAD_BYTES);
  try {
    peekScan.scan(payload, end);
  } catch (err) {
    if (!(err instanceof MalformedPayloadError)) throw err;
  }
  let found = -1;
  for (let i = 0; i < peekScan.count; i++) {
    if (memberIndex(payload, peekScan.nameStart(i), peekScan.nameEnd(i)) !== SEQUENCE) continue;
    if (found >= 0) return null;
    found = i;
  }
  if (found < 0 || peekScan.kind(found) !== STRING_VALUE) return null;
  const start = peekScan.valueStart(found);
  const stop = peekScan.valueEnd(found);
  return uint64Of(payload, start, stop) === null ? null : asciiOf(payload, start, stop);
}
