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
