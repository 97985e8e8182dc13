import { SensorOracleError } from "../protocol/errors.js";

/** Bad configuration; names the offending key. */
export class ConfigError extends SensorOracleError {
  override name = "ConfigError" as const;
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`Invalid configuration: ${key} ${problem}`);
    this.key = key;
  }
}

/**
 * A signature check that could not be answered: the verify workers it ran on exited (crash, out of
 * memory, hung past the batch time limit) `attempts` times. The pool gives up on it rather than
 * let it kill workers forever; every other check is re-queued and answered.
 */
export class VerifyCheckFailedError extends SensorOracleError {
  override name = "VerifyCheckFailedError" as const;
  readonly attempts: number;
  constructor(attempts: number, lastExit: string) {
    super("A signature check failed on every verify worker it was given to.", {
      details: `${attempts} attempts; last worker exit: ${lastExit}`,
    });
    this.attempts = attempts;
  }
}

/** The verify pool was closed (the bridge is stopping): no more checks. */
export class VerifyPoolClosedError extends SensorOracleError {
  override name = "VerifyPoolClosedError" as const;
  constructor() {
    super("verify pool closed");
  }
}
