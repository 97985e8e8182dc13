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
  readonly code:
    | "already_registered"
    | "certificate_not_fleet"
    | "no_chain"
    /** Zero-touch: the device's factory key is not on the fleet's allow-list. */
    | "not_allowed"
    /** Zero-touch: no client certificate, or one that does not chain to the pinned manufacturer CA. */
    | "no_factory_certificate"
    /** Re-enrolment: the client certificate is not the device's current fleet certificate. */
    | "not_current_certificate"
    /** Re-enrolment: the device is revoked (on the CRL or on-chain). */
    | "revoked"
    /** Re-enrolment: the operator queued a key rotation; a renewal of the old key is refused. */
    | "rotation_required"
    /** Re-enrolment with a new key: the rotation time asked for is not a unix time within the last 5 minutes. */
    | "bad_rotation_time";
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

/** A revocation or decommissioning that cannot go ahead (unknown device, bad time, bad reason). */
export class RevocationError extends SensorOracleError {
  override name = "RevocationError" as const;
  readonly code: "unknown_device" | "bad_since" | "bad_reason" | "already_revoked";
  constructor(code: RevocationError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}
