/**
 * One error base for sensor-oracle (after viem's BaseError): a short message, optional details,
 * an optional cause, and a literal `name` per failure so callers branch on the class or name.
 * Messages never carry key material.
 */
export type BaseErrorParameters = { details?: string; cause?: unknown };

export class SensorOracleError extends Error {
  override name = "SensorOracleError";
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, params: BaseErrorParameters = {}) {
    super(params.details ? `${shortMessage}\n\nDetails: ${params.details}` : shortMessage, {
      cause: params.cause,
    });
    this.shortMessage = shortMessage;
    this.details = params.details;
  }

  /**
   * As viem's BaseError.walk: the first error in the cause chain (this one first) for which `fn`
   * holds, or null; without `fn`, the deepest cause.
   */
  walk(fn?: (err: unknown) => boolean): unknown {
    return walkCauses(this, fn);
  }
}

/** Why the bridge refused a reading; each reason is a metric label and an ack reason. */
export const REJECTION_REASONS = [
  "malformed",
  "oversized",
  "unsupported_version",
  "unknown_device",
  "no_certificate",
  "certificate_invalid",
  "certificate_expired",
  "key_mismatch",
  "revoked",
  "bad_signature",
  "replay",
  "future_timestamp",
  "sequence_gap",
  "rate_limited",
  "outside_window",
  "sequence_conflict",
  "unavailable",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type ReadingRejectedErrorParameters = BaseErrorParameters & {
  /** For `rate_limited` and `unavailable`: when the device may send the reading again. */
  retryAfterMs?: number;
};

/**
 * A reading the bridge refuses. `reason` is the counted label; which acknowledgement it becomes
 * (docs/PROTOCOL.md, "Acknowledgement") is `rejectionAck`'s to decide.
 */
export class ReadingRejectedError extends SensorOracleError {
  override name = "ReadingRejectedError" as const;
  readonly reason: RejectionReason;
  readonly retryAfterMs: number | undefined;
  constructor(reason: RejectionReason, shortMessage: string, params: ReadingRejectedErrorParameters = {}) {
    super(shortMessage, params);
    this.reason = reason;
    this.retryAfterMs = params.retryAfterMs;
  }
}

/** A payload that is not a valid v1 reading message. */
export class MalformedPayloadError extends ReadingRejectedError {
  constructor(details: string) {
    super("malformed", "Malformed reading payload.", { details });
  }
}

/** Follow `cause` from `err`: the first error for which `fn` holds (or null), or without `fn` the deepest. */
export function walkCauses(err: unknown, fn?: (err: unknown) => boolean): unknown {
  if (fn?.(err)) return err;
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause !== undefined && cause !== null) return walkCauses(cause, fn);
  return fn ? null : err;
}
