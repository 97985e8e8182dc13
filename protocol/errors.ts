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

  /** The deepest cause for which `fn` holds (or the deepest cause when no `fn`). */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    let found: unknown = fn ? undefined : this;
    while (err) {
      if (fn?.(err)) found = err;
      if (!fn) found = err;
      err = err instanceof Error ? err.cause : undefined;
    }
    return found;
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
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** A reading the bridge refuses. `reason` is the counted label. */
export class ReadingRejectedError extends SensorOracleError {
  override name = "ReadingRejectedError" as const;
  readonly reason: RejectionReason;
  constructor(reason: RejectionReason, shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.reason = reason;
  }
}

/** A payload that is not a valid v1 reading message. */
export class MalformedPayloadError extends ReadingRejectedError {
  constructor(details: string) {
    super("malformed", "Malformed reading payload.", { details });
  }
}

/** Bad configuration; names the offending key. */
export class ConfigError extends SensorOracleError {
  override name = "ConfigError" as const;
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`Invalid configuration: ${key} ${problem}`);
    this.key = key;
  }
}

/** The hardware token could not be used: each failure its own name, none carries a PIN or key. */
export class TokenError extends SensorOracleError {
  override name = "TokenError" as const;
  readonly code:
    | "module_not_found"
    | "token_not_found"
    | "pin_incorrect"
    | "pin_missing"
    | "key_not_found"
    | "engine_missing"
    | "token_failure";
  constructor(code: TokenError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}

/** A certificate signing request the fleet CA refuses; names what is wrong with it. */
export class CertificateRequestError extends SensorOracleError {
  override name = "CertificateRequestError" as const;
  readonly code: "malformed" | "bad_signature" | "wrong_key" | "reading_key_missing" | "name_mismatch";
  constructor(code: CertificateRequestError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}
