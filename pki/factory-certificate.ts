import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { crypto, EC, rawPublic } from "./crypto.js";
import { FactoryCertificateError } from "./errors.js";

/**
 * A key made at the factory (a secure element such as Microchip's ATECC608 "Trust&GO", a TPM's
 * endorsement hierarchy, an HSM vendor's attestation): its manufacturer certificate must chain,
 * signature by signature, to a manufacturer CA the operator pinned. What this returns is the key
 * the fleet may certify; proof that the device holds it is the caller's (a CSR it signed).
 */

export type FactoryKey = {
  /** 65-byte uncompressed P-256 public key (the device's TLS and reading key). */
  publicKey: Uint8Array;
  /** The manufacturer certificate's subject and serial, for the audit trail. */
  subject: string;
  serial: string;
};

/** Certificates from PEM (one or many) or base64 DER strings (Trust&GO manifests' x5c). */
export function parseCertificates(items: string | string[]): x509.X509Certificate[] {
  const list = Array.isArray(items) ? items : [items];
  const out: x509.X509Certificate[] = [];
  for (const item of list) {
    try {
      if (item.includes("-----BEGIN"))
        for (const der of x509.PemConverter.decode(item)) out.push(new x509.X509Certificate(der));
      else out.push(new x509.X509Certificate(Buffer.from(item, "base64")));
    } catch (cause) {
      throw new FactoryCertificateError("malformed", "A manufacturer certificate cannot be read.", { cause });
    }
  }
  return out;
}

const isCa = (c: x509.X509Certificate) => c.getExtension(x509.BasicConstraintsExtension)?.ca === true;

const signedBy = (c: x509.X509Certificate, issuer: x509.X509Certificate) =>
  c.issuer === issuer.subject &&
  c.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false);

/**
 * Check a factory certificate: it chains to one of the pinned CAs (directly, or through
 * intermediates it comes with, each a CA), it is valid now, and its key is P-256. Throws
 * FactoryCertificateError ("not_chained", "not_yet_valid", "wrong_key", "malformed").
 */
export async function verifyFactoryCertificate(p: {
  /** The device's certificate, then any intermediates (PEM or base64 DER). */
  chain: string | string[];
  /** The manufacturer CA(s) the operator pinned (PEM bundle). */
  pinned: string;
  now?: Date;
}): Promise<FactoryKey> {
  const [leaf, ...intermediates] = parseCertificates(p.chain);
  if (!leaf) throw new FactoryCertificateError("malformed", "No manufacturer certificate given.");
  const anchors = parseCertificates(p.pinned);
  const now = p.now ?? new Date();
  let cur = leaf;
  let chained = false;
  for (let depth = 0; depth < 5 && !chained; depth++) {
    const anchor = anchors.find((a) => a.subject === cur.issuer);
    if (anchor && (await signedBy(cur, anchor))) {
      chained = true;
      break;
    }
    let next: x509.X509Certificate | undefined;
    for (const i of intermediates) if (isCa(i) && (await signedBy(cur, i))) next = i;
    if (!next) break;
    cur = next;
  }
  if (!chained)
    throw new FactoryCertificateError(
      "not_chained",
      "The manufacturer certificate does not chain to the pinned manufacturer CA.",
      { details: `subject ${leaf.subject}, issuer ${leaf.issuer}` },
    );
  if (now < leaf.notBefore)
    throw new FactoryCertificateError("not_yet_valid", "The manufacturer certificate is not valid yet.", {
      details: `valid from ${leaf.notBefore.toISOString()}`,
    });
  // Factory certificates often have no meaningful end (Trust&GO's run to 9999 or the chip's
  // life): the fleet certificate the device gets has its own validity, so notAfter is not checked.
  const alg = leaf.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256")
    throw new FactoryCertificateError("wrong_key", "The manufacturer certificate's key is not a P-256 key.", {
      details: `${alg.name} ${alg.namedCurve ?? ""}`.trim(),
    });
  const key = await leaf.publicKey.export(EC, ["verify"], crypto);
  return { publicKey: await rawPublic(key), subject: leaf.subject, serial: leaf.serialNumber };
}
