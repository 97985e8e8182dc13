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

/** The agent config's `feeds` section is wrong: `key` names the offending entry (e.g. "feeds[1].decimals"). */
export class FeedConfigError extends SensorOracleError {
  override name = "FeedConfigError" as const;
  readonly key: string;
  constructor(key: string, shortMessage: string, params: BaseErrorParameters = {}) {
    super(`${key}: ${shortMessage}`, params);
    this.key = key;
  }
}

/** The agent config's `inputs` section is wrong: `key` names the offending entry (e.g. "inputs.http.host"). */
export class InputConfigError extends SensorOracleError {
  override name = "InputConfigError" as const;
  readonly key: string;
  constructor(key: string, shortMessage: string, params: BaseErrorParameters = {}) {
    super(`${key}: ${shortMessage}`, params);
    this.key = key;
  }
}

/** Why an input refused a reading: each reason is a counted label (InputStats) and goes back to its source. */
export const READING_INPUT_REASONS = [
  /** Not a reading at all: a line that is not JSON, a body that is not an object, fields of the wrong type. */
  "malformed",
  "unknown_feed",
  /** The value is not a number or a decimal string. */
  "not_a_number",
  /** NaN or ±Infinity. */
  "not_finite",
  /** More fraction digits than the feed's decimals keep (and the feed does not round). */
  "too_precise",
  /** Outside the feed's [min, max] or outside int256 once scaled. */
  "out_of_range",
  /** takenAt is not whole unix seconds (or looks like milliseconds). */
  "bad_timestamp",
  /** A line or body above the input's size limit. */
  "too_large",
  /** A command that could not start, exited non-zero or was killed by a signal. */
  "command_failed",
  /** A command that did not finish within its timeout (it is killed). */
  "command_timeout",
  /** The agent's outbox is full: the reading was refused, nothing stored was dropped. */
  "outbox_full",
  /** The agent refused the reading for another reason (its error is logged). */
  "sink_failed",
] as const;
export type ReadingInputReason = (typeof READING_INPUT_REASONS)[number];

/** A reading an input refused before (or as) it reached the agent; `reason` is the counted label. */
export class ReadingInputError extends SensorOracleError {
  override name = "ReadingInputError" as const;
  readonly reason: ReadingInputReason;
  constructor(reason: ReadingInputReason, shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.reason = reason;
  }
}

/** A certificate file that is not a readable PEM certificate. */
export class CertificateReadError extends SensorOracleError {
  override name = "CertificateReadError" as const;
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
