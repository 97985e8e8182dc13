import { type BaseErrorParameters, SensorOracleError } from "../protocol/errors.js";

/** A certificate signing request the fleet CA refuses; names what is wrong with it. */
export class CertificateRequestError extends SensorOracleError {
  override name = "CertificateRequestError" as const;
  readonly code:
    | "malformed"
    | "bad_signature"
    | "wrong_key"
    | "wrong_curve"
    | "reading_key_missing"
    | "name_mismatch"
    | "certificate_mismatch";
  constructor(code: CertificateRequestError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}

/**
 * A private key file the CLI will not use or write as asked: readable by group or others, a
 * passphrase missing or wrong. Names the file, never its content.
 */
export class KeyFileError extends SensorOracleError {
  override name = "KeyFileError" as const;
  readonly code: "exposed" | "missing" | "passphrase_missing" | "passphrase_wrong";
  constructor(code: KeyFileError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}

/** A manufacturer (factory) certificate the fleet refuses: not chained to the pinned CA, or not the key enrolled. */
export class FactoryCertificateError extends SensorOracleError {
  override name = "FactoryCertificateError" as const;
  readonly code: "malformed" | "not_chained" | "not_yet_valid" | "key_mismatch" | "wrong_key";
  constructor(code: FactoryCertificateError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}
