import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  parseDeviceSanUri,
  parseReadingKeySanUri,
} from "../protocol/index.js";
import { crypto, EC, rawPublic } from "./crypto.js";
import { CertificateRequestError } from "./errors.js";

/** What a device's CSR, once reviewed, lets the CA certify. */
export type ReviewedCsr = {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  /** The P-256 key the device authenticates TLS with (the certificate's subject key). */
  tlsKey: CryptoKey;
  tlsPublicKey: Uint8Array;
  readingPublicKey: Uint8Array;
};

/**
 * Review a device's CSR (device-agent/csr.ts): it must be a PKCS#10 request carrying a P-256 key
 * and signed by it, a secp256k1 device must name its reading key in a SAN URI, and every name it
 * asks for (CN, SAN URI) must be the one its key (or, on rotation, `deviceId`) gives. Throws a
 * CertificateRequestError naming the first check that fails.
 */
export async function reviewDeviceCsr(
  csrPem: string,
  p: { curve: CurveName; deviceId?: `0x${string}`; expectedName?: string },
): Promise<ReviewedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (cause) {
    throw new CertificateRequestError("malformed", "The certificate request is not a PKCS#10 CSR.", {
      cause,
    });
  }
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256")
    throw new CertificateRequestError(
      "wrong_key",
      "The certificate request's key is not a P-256 key (a device's TLS key is P-256).",
      { details: `${alg.name} ${alg.namedCurve ?? ""}`.trim() },
    );
  if (!(await csr.verify(crypto)))
    throw new CertificateRequestError(
      "bad_signature",
      "The certificate request is not signed by the key it carries.",
    );
  const tlsKey = await csr.publicKey.export(EC, ["verify"], crypto);
  const tlsPublicKey = await rawPublic(tlsKey);
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
  const uris = ((san as x509.SubjectAlternativeNameExtension | undefined)?.names.items ?? [])
    .filter((n) => n.type === "url")
    .map((n) => n.value);
  let readingPublicKey = tlsPublicKey;
  const namedKeys = uris.map(parseReadingKeySanUri).filter((k) => k !== null);
  const otherCurve = namedKeys.find((k) => k.curve !== p.curve);
  if (otherCurve)
    throw new CertificateRequestError(
      "wrong_curve",
      "The certificate request names a reading key of another curve than the one enrolled.",
      { details: `asked for ${p.curve}, the request names a ${otherCurve.curve} key` },
    );
  if (p.curve === "secp256k1") {
    const named = uris.map(parseReadingKeySanUri).find((k) => k?.curve === "secp256k1");
    if (!named)
      throw new CertificateRequestError(
        "reading_key_missing",
        "A secp256k1 device's certificate request must name its reading key in a SAN URI.",
      );
    readingPublicKey = named.publicKey;
  }
  const deviceId = p.deviceId ?? deviceIdOf(p.curve, readingPublicKey);
  const name = deviceIdToName(deviceId);
  const asked = uris.map(parseDeviceSanUri).filter((n): n is string => n !== null);
  for (const n of [...asked, ...csr.subjectName.getField("CN")]) {
    if (n !== name)
      throw new CertificateRequestError(
        "name_mismatch",
        "The certificate request asks for another device's name than its key gives.",
        { details: `asked ${n}, key gives ${name}` },
      );
  }
  if (p.expectedName !== undefined && p.expectedName !== name)
    throw new CertificateRequestError(
      "name_mismatch",
      "The certificate request is for another device than the one named.",
      { details: `named ${p.expectedName}, the request's key gives ${name}` },
    );
  return { curve: p.curve, deviceId, name, tlsKey, tlsPublicKey, readingPublicKey };
}

/**
 * The curve a device's CSR asks for: secp256k1 when it names a secp256k1 reading key, else P-256.
 * Not a check (reviewDeviceCsr is): what `device enroll --csr` assumes when no --curve is given.
 */
export function csrCurve(csrPem: string): CurveName {
  try {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
    const named = ((san as x509.SubjectAlternativeNameExtension | undefined)?.names.items ?? [])
      .filter((n) => n.type === "url")
      .map((n) => parseReadingKeySanUri(n.value))
      .find((k) => k !== null);
    return named?.curve ?? "p256";
  } catch (cause) {
    throw new CertificateRequestError("malformed", "The certificate request is not a PKCS#10 CSR.", {
      cause,
    });
  }
}
