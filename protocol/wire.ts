import { type Hex, isHex } from "viem";
import { MalformedPayloadError, ReadingRejectedError } from "./errors.js";
import { deviceNameToId, INT256_MAX, INT256_MIN, type Reading, UINT64_MAX } from "./reading.js";

/** Version of the wire format this module speaks. */
export const WIRE_VERSION = 1;
/** Largest reading payload accepted, in bytes. */
export const MAX_PAYLOAD_BYTES = 1024;

/** Topic prefix; a device publishes under its own name only (broker ACL). */
export const TOPIC_PREFIX = "so/v1/devices";
export const readingsTopic = (deviceName: string) => `${TOPIC_PREFIX}/${deviceName}/readings`;
export const acksTopic = (deviceName: string) => `${TOPIC_PREFIX}/${deviceName}/acks`;
/** Every device's readings topic. */
export const ALL_READINGS = `${TOPIC_PREFIX}/+/readings`;
/** What bridges subscribe to: an MQTT 5 shared subscription over every device's readings. */
export const BRIDGE_SUBSCRIPTION = `$share/sensor-oracle/${ALL_READINGS}`;

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

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;
const UNSIGNED = /^(0|[1-9][0-9]*)$/;

/** Decode and validate a reading payload received on a device's topic. Throws ReadingRejectedError. */
export function decodeReadingMessage(
  deviceName: string,
  payload: Uint8Array,
): { reading: Reading; signature: Uint8Array } {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new ReadingRejectedError("oversized", "Reading payload too large.", {
      details: `${payload.length} bytes, at most ${MAX_PAYLOAD_BYTES}`,
    });
  }
  let msg: unknown;
  try {
    msg = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw new MalformedPayloadError("not JSON");
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    throw new MalformedPayloadError("not a JSON object");
  }
  const m = msg as Record<string, unknown>;
  if (m.v !== WIRE_VERSION) {
    throw new ReadingRejectedError("unsupported_version", "Unsupported wire version.", {
      details: `v=${String(m.v)}, this bridge speaks v=${WIRE_VERSION}`,
    });
  }
  if (typeof m.feedId !== "string" || !isHex(m.feedId, { strict: true }) || m.feedId.length !== 66) {
    throw new MalformedPayloadError("feedId must be 0x and 64 hex digits");
  }
  if (typeof m.value !== "string" || !DECIMAL.test(m.value)) {
    throw new MalformedPayloadError("value must be a decimal integer string");
  }
  const value = BigInt(m.value);
  if (value < INT256_MIN || value > INT256_MAX) throw new MalformedPayloadError("value out of int256 range");
  if (typeof m.timestamp !== "number" || !Number.isSafeInteger(m.timestamp) || m.timestamp < 0) {
    throw new MalformedPayloadError("timestamp must be a non-negative integer (seconds)");
  }
  if (typeof m.sequence !== "string" || !UNSIGNED.test(m.sequence)) {
    throw new MalformedPayloadError("sequence must be an unsigned decimal integer string");
  }
  const sequence = BigInt(m.sequence);
  if (sequence > UINT64_MAX) throw new MalformedPayloadError("sequence out of uint64 range");
  if (
    typeof m.signature !== "string" ||
    !isHex(m.signature, { strict: true }) ||
    m.signature.length !== 130
  ) {
    throw new MalformedPayloadError("signature must be 0x and 128 hex digits (r||s)");
  }
  return {
    reading: {
      deviceId: deviceNameToId(deviceName),
      feedId: m.feedId.toLowerCase() as Hex,
      value,
      timestamp: BigInt(m.timestamp),
      sequence,
    },
    signature: Buffer.from(m.signature.slice(2), "hex"),
  };
}

/** What the bridge publishes on a device's acks topic for each reading it handled. */
export type AckMessage =
  | { v: 1; sequence: string; status: "queued" }
  | { v: 1; sequence: string | null; status: "rejected"; reason: string };

export function encodeAck(ack: AckMessage): string {
  return JSON.stringify(ack);
}

export function decodeAck(payload: Uint8Array): AckMessage | null {
  try {
    const m = JSON.parse(Buffer.from(payload).toString("utf8")) as AckMessage;
    return m && m.v === 1 && (m.status === "queued" || m.status === "rejected") ? m : null;
  } catch {
    return null;
  }
}
