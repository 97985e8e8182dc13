import { type BaseErrorParameters, SensorOracleError } from "../protocol/errors.js";

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

/**
 * The outbox holds as many bytes as its quota allows: the new reading is refused (counted and
 * logged by the agent); nothing already stored is dropped.
 */
export class OutboxFullError extends SensorOracleError {
  override name = "OutboxFullError" as const;
  readonly usedBytes: number;
  readonly quotaBytes: number;
  constructor(p: { usedBytes: number; quotaBytes: number }) {
    super("The outbox is full: reading refused, nothing stored was dropped.", {
      details: `${p.usedBytes} of ${p.quotaBytes} bytes in use`,
    });
    this.usedBytes = p.usedBytes;
    this.quotaBytes = p.quotaBytes;
  }
}

/** The outbox cannot be used (closed, or its file is not an outbox). */
export class OutboxError extends SensorOracleError {
  override name = "OutboxError" as const;
}

/** A reading for a feed the agent's config does not list. */
export class UnknownFeedError extends SensorOracleError {
  override name = "UnknownFeedError" as const;
  readonly feed: string;
  constructor(feed: string) {
    super(`Unknown feed "${feed.slice(0, 64)}": not in the agent's feed list.`);
    this.feed = feed;
  }
}

/** The device has used every sequence number it may sign (2^63 - 1, the outbox's integer range). */
export class SequenceExhaustedError extends SensorOracleError {
  override name = "SequenceExhaustedError" as const;
}
