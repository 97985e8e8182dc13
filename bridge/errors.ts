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
