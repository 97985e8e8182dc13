import * as x509 from "@peculiar/x509";

/**
 * The wire forms of EST (RFC 7030) that the enrolment endpoint and its client use:
 * - request (simpleenroll, simplereenroll): a PKCS#10 CSR, DER, base64 (Content-Type
 *   application/pkcs10, Content-Transfer-Encoding base64);
 * - response: a PKCS#7 (CMS SignedData) "certs-only" message holding the issued certificate,
 *   DER, base64 (application/pkcs7-mime; smime-type=certs-only), as are /cacerts.
 * @peculiar/x509's X509Certificates reads and writes that certs-only form.
 */

export const EST_PATHS = {
  cacerts: "/.well-known/est/cacerts",
  simpleenroll: "/.well-known/est/simpleenroll",
  simplereenroll: "/.well-known/est/simplereenroll",
  /** Not in RFC 7030: what the fleet wants of this device (renew, rotate), and its settings bundle. */
  instructions: "/.well-known/est/sensor-oracle/instructions",
  settings: "/.well-known/est/sensor-oracle/settings",
} as const;

export const PKCS10_TYPE = "application/pkcs10";
export const CERTS_ONLY_TYPE = "application/pkcs7-mime; smime-type=certs-only";

/** A CSR (PEM) as an EST request body: base64 DER, lines of 64. */
export function csrToEstBody(csrPem: string): string {
  const der = x509.PemConverter.decode(csrPem)[0];
  if (!der) throw new Error("not a PEM certificate request");
  return (
    Buffer.from(der)
      .toString("base64")
      .match(/.{1,64}/g)
      ?.join("\r\n") ?? ""
  );
}

/** An EST request body (base64 DER, or PEM from a lenient client) as a CSR PEM. */
export function estBodyToCsrPem(body: string): string {
  if (body.includes("-----BEGIN")) return body;
  const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
  return x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
}

/** Certificates (PEM, one or many) as a certs-only PKCS#7, base64 DER. */
export function certsOnly(pems: string[]): string {
  const certs = new x509.X509Certificates(
    pems.flatMap((p) => x509.PemConverter.decode(p).map((der) => new x509.X509Certificate(der))),
  );
  return (
    certs
      .export("base64")
      .match(/.{1,64}/g)
      ?.join("\r\n") ?? ""
  );
}

/** The certificates of a certs-only PKCS#7 (base64 DER), as PEM, in the message's order. */
export function certsFromCertsOnly(body: string): string[] {
  const certs = new x509.X509Certificates(Buffer.from(body.replace(/\s+/g, ""), "base64"));
  return certs.map((c) => c.toString("pem"));
}
