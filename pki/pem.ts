import "reflect-metadata";
import { createPrivateKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { publicKeyOf } from "../protocol/signature.js";
import { crypto, EC } from "./crypto.js";

/** Private keys as PKCS#8 PEM, the form TLS clients and servers load. */

/** A WebCrypto private key as PKCS#8 PEM. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** A PKCS#8 PEM P-256 private key as a WebCrypto signing key. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0] as ArrayBuffer;
  return crypto.subtle.importKey("pkcs8", der, EC, true, ["sign"]);
}

/** A software P-256 secret (32 bytes) as PKCS#8 PEM. */
export function p256SecretToPem(secret: Uint8Array): string {
  const pub = publicKeyOf("p256", secret);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  return createPrivateKey({
    key: { kty: "EC", crv: "P-256", d: b64(secret), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) },
    format: "jwk",
  })
    .export({ type: "pkcs8", format: "pem" })
    .toString();
}

/** The 32-byte secret of a P-256 PKCS#8 PEM key. */
export function p256SecretFromPem(pem: string): Uint8Array {
  return Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d as string, "base64url");
}
