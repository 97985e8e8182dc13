import { SensorOracleError } from "../protocol/errors.js";

/** The bridge answered a request with an error status (its `error` code, e.g. ReadingNotFound, when it gave one). */
export class BridgeRequestError extends SensorOracleError {
  override name = "BridgeRequestError" as const;
  readonly status: number;
  readonly code: string | undefined;
  constructor(url: string, status: number, code: string | undefined, message: string | undefined) {
    super(`The bridge answered ${status}${code ? ` ${code}` : ""} for ${url}.`, {
      ...(message ? { details: message } : {}),
    });
    this.status = status;
    this.code = code;
  }
}

/** The bridge could not be reached, or did not answer in time. */
export class BridgeUnreachableError extends SensorOracleError {
  override name = "BridgeUnreachableError" as const;
  constructor(url: string, cause: unknown) {
    super(`The bridge did not answer ${url}.`, { cause, details: (cause as Error)?.message });
  }
}

/** The bridge's answer is not a served reading (a field is missing or malformed). */
export class BridgeResponseError extends SensorOracleError {
  override name = "BridgeResponseError" as const;
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`The bridge's reading is malformed: ${field} ${problem}.`);
    this.field = field;
  }
}

/** The reading is queued at the bridge but its batch is not committed yet: no proof to verify with. */
export class ReadingNotCommittedError extends SensorOracleError {
  override name = "ReadingNotCommittedError" as const;
  readonly id: string;
  constructor(id: string) {
    super(`Reading ${id} is not in a committed batch yet; ask again after the bridge's next commit.`);
    this.id = id;
  }
}

/**
 * verifyReading reverted: `reason` is the contract's error name (ReadingBatchesUnknownBatch: no
 * committed batch has the proof's root; ReadingBatchesInvalidSignature: not the device's signature,
 * or its key was not valid at the reading's time), or undefined when the revert carried none.
 */
export class ReadingNotVerifiedError extends SensorOracleError {
  override name = "ReadingNotVerifiedError" as const;
  readonly reason: string | undefined;
  readonly args: readonly unknown[];
  constructor(reason: string | undefined, args: readonly unknown[], cause: unknown) {
    super(`The reading does not verify on-chain${reason ? `: ${reason}` : ""}.`, { cause });
    this.reason = reason;
    this.args = args;
  }
}
