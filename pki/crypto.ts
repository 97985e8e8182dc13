import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** The WebCrypto provider, algorithms and key helpers the fleet PKI uses (P-256 throughout). */

export const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

export const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
export const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/** A fresh, exportable P-256 key pair. */
export async function generateP256(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A P-256 public key as 65 uncompressed bytes. */
export async function rawPublic(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

/** The 32-byte secret scalar of a P-256 private key. */
export async function secretScalar(key: CryptoKey): Promise<Uint8Array> {
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return Buffer.from(jwk.d as string, "base64url");
}
