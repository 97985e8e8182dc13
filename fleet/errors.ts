import { type BaseErrorParameters, SensorOracleError } from "../protocol/errors.js";

/** A manifest (many devices to enrol) that cannot be read, or one of its entries. */
export class ManifestError extends SensorOracleError {
  override name = "ManifestError" as const;
  readonly code: "malformed" | "entry_invalid" | "duplicate" | "signature_invalid";
  constructor(code: ManifestError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}

/** An enrolment the fleet refuses before it issues or registers anything. */
export class EnrolmentError extends SensorOracleError {
  override name = "EnrolmentError" as const;
  readonly code: "already_registered" | "certificate_not_fleet" | "no_chain";
  constructor(code: EnrolmentError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}

/** The audit log's hash chain is broken: `line` is the first entry that does not verify (1-based). */
export class AuditLogError extends SensorOracleError {
  override name = "AuditLogError" as const;
  readonly code: "malformed" | "hash_mismatch" | "chain_broken" | "truncated";
  readonly line: number;
  constructor(
    code: AuditLogError["code"],
    line: number,
    shortMessage: string,
    params: BaseErrorParameters = {},
  ) {
    super(shortMessage, params);
    this.code = code;
    this.line = line;
  }
}
