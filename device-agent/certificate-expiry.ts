import { X509Certificate } from "node:crypto";
import { CertificateReadError } from "./errors.js";

// node:crypto (OpenSSL) reads the certificate: @peculiar/x509 and its ASN.1 schemas cost the agent
// about 3 MB of V8 heap and more of RSS for two dates and a name (docs/BENCHMARKS.md).

/** Warn this long before the device certificate expires, unless told otherwise. */
export const DEFAULT_EXPIRY_WARNING_DAYS = 30;

export type CertificateExpiryParameters = {
  /** The device certificate, PEM (a file with the chain after it is fine: the first one counts). */
  certPem: string;
  /** Default now. */
  now?: Date;
  /** Default DEFAULT_EXPIRY_WARNING_DAYS (30). */
  warnDays?: number;
};

export type CertificateExpiry = {
  notBefore: Date;
  notAfter: Date;
  /** Whole seconds from now to notAfter; negative once expired. */
  secondsLeft: number;
  /** notAfter less the warning threshold: from then on, warn. */
  warnAt: Date;
  /** now is at or past warnAt (also when expired): log a warning, renew the certificate. */
  warn: boolean;
  expired: boolean;
  /** The certificate's subject, to name it in the warning. */
  subject: string;
};

/**
 * When the agent's certificate expires and whether to warn about it now: for the health endpoint,
 * the metrics (secondsLeft) and a warning ahead of the day the broker would refuse the device.
 * Pure: reads the PEM it is given, decides against `now`. Throws CertificateReadError for text
 * that holds no readable certificate.
 */
export function certificateExpiry(p: CertificateExpiryParameters): CertificateExpiry {
  const warnDays = p.warnDays ?? DEFAULT_EXPIRY_WARNING_DAYS;
  if (!Number.isFinite(warnDays) || warnDays < 0)
    throw new RangeError(`warnDays must be a number of days at or above 0, not ${warnDays}`);
  let cert: X509Certificate;
  try {
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(p.certPem)?.[0];
    if (!pem) throw new Error("no BEGIN CERTIFICATE block");
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new CertificateReadError("Not a readable PEM certificate.", {
      details: err instanceof Error ? err.message : String(err),
      cause: err,
    });
  }
  const now = p.now ?? new Date();
  const notBefore = cert.validFromDate;
  const notAfter = cert.validToDate;
  const warnAt = new Date(notAfter.getTime() - warnDays * 86_400_000);
  return {
    notBefore,
    notAfter,
    secondsLeft: Math.floor((notAfter.getTime() - now.getTime()) / 1000),
    warnAt,
    warn: now.getTime() >= warnAt.getTime(),
    expired: now.getTime() > notAfter.getTime(),
    // OpenSSL puts one attribute a line; @peculiar/x509, which this read before, ", " between them.
    subject: cert.subject.split("\n").join(", "),
  };
}
