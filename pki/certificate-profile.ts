import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type CurveName, deviceSanUri, readingKeySanUri } from "../protocol/index.js";
import { SIGN } from "./crypto.js";

/**
 * What the fleet's certificates say: the issuing step (an end-entity certificate signed by the
 * issuing CA) and the extensions of each profile (broker server, bridge client, device).
 */

/** The issuing CA's certificate and keys: what signs every end-entity certificate. */
export type Issuer = { cert: x509.X509Certificate; keys: CryptoKeyPair };

const DAY_MS = 86_400_000;

/** `n` days from now. */
export const daysFromNow = (n: number) => new Date(Date.now() + n * DAY_MS);

/** An end-entity certificate (not a CA) for `publicKey`, signed by the issuer, as PEM. */
export async function issueCertificate(
  issuer: Issuer,
  p: { subject: string; publicKey: CryptoKey; extensions: x509.Extension[]; notBefore: Date; notAfter: Date },
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    subject: p.subject,
    issuer: issuer.cert.subject,
    publicKey: p.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
      ...p.extensions,
    ],
  });
  return cert.toString("pem");
}

/** The broker's TLS server certificate: serverAuth, named by DNS names and IP addresses. */
export function serverProfile(dnsNames: string[], ips: string[]): x509.Extension[] {
  return [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([
      ...dnsNames.map((value) => ({ type: "dns" as const, value })),
      ...ips.map((value) => ({ type: "ip" as const, value })),
    ]),
  ];
}

/** A TLS client certificate named by its CN only (the bridge's). */
export function clientProfile(): x509.Extension[] {
  return [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
  ];
}

/**
 * A device certificate's extensions: clientAuth, a SAN URI naming the device (its CN too) and,
 * for a secp256k1 device, a second SAN URI naming its reading key (docs/PROTOCOL.md).
 */
export function deviceProfile(
  curve: CurveName,
  name: string,
  readingPublicKey: Uint8Array,
): x509.Extension[] {
  return [
    ...clientProfile(),
    new x509.SubjectAlternativeNameExtension([
      { type: "url", value: deviceSanUri(name) },
      ...(curve === "secp256k1"
        ? [{ type: "url" as const, value: readingKeySanUri(curve, readingPublicKey) }]
        : []),
    ]),
  ];
}
