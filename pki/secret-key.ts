import { createPrivateKey, type KeyObject } from "node:crypto";
import type { CurveName } from "../protocol/reading.js";

/**
 * Software secret keys (32 bytes) and their PEM forms with node:crypto alone: what the device
 * agent needs at start (its software key), without @peculiar/x509 or @noble/curves in its memory
 * (about 20 MB of RSS together on a gateway; docs/BENCHMARKS.md). pki/pem.ts re-exports the PEM
 * helpers for the fleet's tools.
 */

/** The curves' orders. */
const ORDER: Record<CurveName, bigint> = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};
/** The `[0] parameters` of a SEC1 ECPrivateKey: the curve's object identifier. */
const CURVE_PARAMETERS: Record<CurveName, string> = {
  p256: "a00a06082a8648ce3d030107", // 1.2.840.10045.3.1.7 (prime256v1)
  secp256k1: "a00706052b8104000a", // 1.3.132.0.10
};

/**
 * A 32-byte secret as an OpenSSL private key: a SEC1 ECPrivateKey (version 1, the secret, the
 * curve) without its optional public key, which OpenSSL computes as it reads the key. Throws a
 * RangeError for anything but 32 bytes in [1, n-1].
 */
export function secretKeyObject(curve: CurveName, secret: Uint8Array): KeyObject {
  const d = secret.length === 32 ? BigInt(`0x${Buffer.from(secret).toString("hex")}`) : 0n;
  if (d <= 0n || d >= ORDER[curve]) throw new RangeError(`not a ${curve} secret key: 32 bytes in [1, n-1]`);
  const body = Buffer.concat([
    Buffer.from("0201010420", "hex"),
    secret,
    Buffer.from(CURVE_PARAMETERS[curve], "hex"),
  ]);
  return createPrivateKey({
    key: Buffer.concat([Buffer.from([0x30, body.length]), body]),
    format: "der",
    type: "sec1",
  });
}

/** The 65-byte uncompressed SEC1 public key of a private key. */
export function publicKeyOfKeyObject(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x as string, "base64url"),
      Buffer.from(jwk.y as string, "base64url"),
    ]),
  );
}

/**
 * A software P-256 secret (32 bytes) as PKCS#8 PEM, its public point included (a key read from
 * SEC1 without one is written without one: it goes through its JWK, which has the point).
 */
export function p256SecretToPem(secret: Uint8Array): string {
  const jwk = secretKeyObject("p256", secret).export({ format: "jwk" });
  return createPrivateKey({ key: jwk, format: "jwk" }).export({ type: "pkcs8", format: "pem" }).toString();
}

/** The 32-byte secret of a P-256 PKCS#8 PEM key. */
export function p256SecretFromPem(pem: string): Uint8Array {
  return Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d as string, "base64url");
}
