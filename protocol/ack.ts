import type { ReadingRejectedError } from "./errors.js";
import {
  asciiOf,
  bytesEqual,
  FlatObjectScan,
  LITERAL_VALUE,
  NUMBER_VALUE,
  STRING_VALUE,
  uint64Of,
} from "./flat-json.js";

/** Largest acknowledgement accepted, in bytes (the longest the bridge sends is about 110). */
export const MAX_ACK_BYTES = 256;
/** Largest `retryAfterMs` a bridge sends and a device accepts: one hour. */
export const MAX_RETRY_AFTER_MS = 3_600_000;
/** The pause a device takes when an answer that asks for a resend carries no `retryAfterMs`. */
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * What the bridge publishes on a device's acks topic for each reading it handled
 * (docs/PROTOCOL.md, "Acknowledgement"). Statuses other than `queued` and `rejected` are unknown to
 * agents older than them, which ignore such an answer and so keep the reading: none of the newer
 * statuses means "delivered", and no retryable answer is a `rejected` one except the
 * `rate_limited` those agents already resend.
 */
export type AckMessage =
  /** Durably stored: the device drops the reading. */
  | { v: 1; sequence: string; status: "queued" }
  /**
   * Refused for good (`replay`: the bridge holds this very reading, so it is delivered), except
   * `rate_limited`: nothing stored, send again after `retryAfterMs`.
   */
  | { v: 1; sequence: string | null; status: "rejected"; reason: string; retryAfterMs?: number }
  /** Nothing stored, for a passing reason (`unavailable`): send again after `retryAfterMs`. */
  | { v: 1; sequence: string | null; status: "retry"; reason: string; retryAfterMs: number }
  /** Below the replay window and not provably held: not delivered; keep it and raise an alarm. */
  | { v: 1; sequence: string; status: "unconfirmed"; reason: "outside_window" };

/** The acknowledgement as JSON, members always in the order v, sequence, status, reason, retryAfterMs. */
export function encodeAck(ack: AckMessage): string {
  const reason = ack.status === "queued" ? "" : `,"reason":${JSON.stringify(ack.reason)}`;
  const retry =
    (ack.status === "rejected" || ack.status === "retry") && ack.retryAfterMs !== undefined
      ? `,"retryAfterMs":${ack.retryAfterMs}`
      : "";
  return `{"v":1,"sequence":${JSON.stringify(ack.sequence)},"status":"${ack.status}"${reason}${retry}}`;
}

/**
 * The acknowledgement for a refused reading. `unavailable` becomes `retry`, `outside_window`
 * `unconfirmed` (a `rejected` one would make agents that predate it drop the reading), everything
 * else `rejected`; `retryAfterMs` rides along for `rate_limited` and `unavailable`.
 */
export function rejectionAck(err: ReadingRejectedError, sequence: string | null): AckMessage {
  const retryAfterMs = Math.min(
    Math.max(0, Math.round(err.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS)),
    MAX_RETRY_AFTER_MS,
  );
  if (err.reason === "unavailable")
    return { v: 1, sequence, status: "retry", reason: err.reason, retryAfterMs };
  if (err.reason === "outside_window" && sequence !== null) {
    return { v: 1, sequence, status: "unconfirmed", reason: err.reason };
  }
  if (err.reason === "rate_limited")
    return { v: 1, sequence, status: "rejected", reason: err.reason, retryAfterMs };
  return { v: 1, sequence, status: "rejected", reason: err.reason };
}

/** What a device does with the reading an acknowledgement answers. */
export type OutboxAction =
  /** Remove it from the outbox; `delivered` says whether the bridge holds it. */
  | { action: "drop"; delivered: boolean }
  /** Keep it and send it again after `afterMs`. */
  | { action: "resend"; afterMs: number }
  /** Keep it, do not resend it on its own, and raise an alarm for an operator. */
  | { action: "hold" };

export function outboxActionOf(ack: AckMessage): OutboxAction {
  switch (ack.status) {
    case "queued":
      return { action: "drop", delivered: true };
    case "retry":
      return { action: "resend", afterMs: ack.retryAfterMs };
    case "unconfirmed":
      return { action: "hold" };
    case "rejected":
      if (ack.reason === "rate_limited") {
        return { action: "resend", afterMs: ack.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS };
      }
      return { action: "drop", delivered: ack.reason === "replay" };
  }
}

const ackScan = new FlatObjectScan(8);
const ACK_MEMBERS = ["v", "sequence", "status", "reason", "retryAfterMs"] as const;
const STATUSES = ["queued", "rejected", "retry", "unconfirmed"] as const;
const REASON = /^[a-z_]{1,32}$/;

/**
 * A strictly validated acknowledgement, or null for anything else (read as "no answer", so the
 * device keeps the reading). Bounded: at most MAX_ACK_BYTES, one pass, the canonical form of
 * reading payloads (docs/PROTOCOL.md), each member at most once, no unknown member.
 */
export function decodeAck(payload: Uint8Array): AckMessage | null {
  if (payload.length > MAX_ACK_BYTES) return null;
  try {
    ackScan.scan(payload, payload.length);
  } catch {
    return null;
  }
  const at = [-1, -1, -1, -1, -1];
  for (let i = 0; i < ackScan.count; i++) {
    const m = ACK_MEMBERS.findIndex((n) => bytesEqual(payload, ackScan.nameStart(i), ackScan.nameEnd(i), n));
    if (m < 0 || (at[m] as number) >= 0) return null;
    at[m] = i;
  }
  const text = (i: number) => asciiOf(payload, ackScan.valueStart(i), ackScan.valueEnd(i));
  const [v, seq, st, rs, ra] = at as [number, number, number, number, number];
  if (v < 0 || ackScan.kind(v) !== NUMBER_VALUE || text(v) !== "1") return null;

  let sequence: string | null;
  if (seq < 0) return null;
  if (ackScan.kind(seq) === LITERAL_VALUE && text(seq) === "null") sequence = null;
  else if (
    ackScan.kind(seq) === STRING_VALUE &&
    uint64Of(payload, ackScan.valueStart(seq), ackScan.valueEnd(seq)) !== null
  )
    sequence = text(seq);
  else return null;

  if (st < 0 || ackScan.kind(st) !== STRING_VALUE) return null;
  const status = STATUSES.find((s) => s === text(st));
  if (!status) return null;
  let reason: string | undefined;
  if (rs >= 0) {
    if (ackScan.kind(rs) !== STRING_VALUE || !REASON.test(text(rs))) return null;
    reason = text(rs);
  }
  let retryAfterMs: number | undefined;
  if (ra >= 0) {
    if (ackScan.kind(ra) !== NUMBER_VALUE) return null;
    retryAfterMs = Number(text(ra));
    if (retryAfterMs > MAX_RETRY_AFTER_MS) return null;
  }

  switch (status) {
    case "queued":
      return sequence !== null && reason === undefined && retryAfterMs === undefined
        ? { v: 1, sequence, status }
        : null;
    case "rejected":
      if (reason === undefined || (retryAfterMs !== undefined && reason !== "rate_limited")) return null;
      return retryAfterMs === undefined
        ? { v: 1, sequence, status, reason }
        : { v: 1, sequence, status, reason, retryAfterMs };
    case "retry":
      return reason !== undefined && retryAfterMs !== undefined
        ? { v: 1, sequence, status, reason, retryAfterMs }
        : null;
    case "unconfirmed":
      return sequence !== null && reason === "outside_window" && retryAfterMs === undefined
        ? { v: 1, sequence, status, reason }
        : null;
  }
}
