import { type BaseErrorParameters, SensorOracleError } from "../protocol/errors.js";

/** The device's side of the enrolment endpoint: refused, unreachable, or an answer it cannot read. */
export class EnrolmentClientError extends SensorOracleError {
  override name = "EnrolmentClientError" as const;
  readonly code: "refused" | "unreachable" | "bad_response" | "no_endpoint";
  /** The endpoint's HTTP status, when it answered. */
  readonly status: number | undefined;
  constructor(
    code: EnrolmentClientError["code"],
    shortMessage: string,
    params: BaseErrorParameters & { status?: number } = {},
  ) {
    super(shortMessage, params);
    this.code = code;
    this.status = params.status;
  }
}

/** `agent wipe` refused: readings not yet acknowledged, or no config to wipe. */
export class WipeError extends SensorOracleError {
  override name = "WipeError" as const;
  readonly code: "unacknowledged" | "no_keys";
  constructor(code: WipeError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}
