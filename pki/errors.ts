import { type BaseErrorParameters, SensorOracleError } from "../protocol/errors.js";

/** A certificate signing request the fleet CA refuses; names what is wrong with it. */
export class CertificateRequestError extends SensorOracleError {
  override name = "CertificateRequestError" as const;
  readonly code: "malformed" | "bad_signature" | "wrong_key" | "reading_key_missing" | "name_mismatch";
  constructor(code: CertificateRequestError["code"], shortMessage: string, params: BaseErrorParameters = {}) {
    super(shortMessage, params);
    this.code = code;
  }
}
