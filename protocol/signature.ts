import { verify as cryptoVerify } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { Hex } from "viem";
import { p256KeyObject } from "./p256-key.mjs";
import type { CurveName } from "./reading.js";
import { secp256k1RecoveryByte } from "./secp256k1-native.mjs";

/**
 * Signatures on the wire are 64 bytes r||s, low-S, for both curves (docs/PROTOCOL.md):
 * - P-256: ES256, ECDSA with SHA-256 over the 32-byte EIP-712 digest (the digest is the message).
 * - secp256k1: ECDSA directly over the 32-byte EIP-712 digest, as Ethereum signs.
 * On-chain, secp256k1 signatures carry a recovery byte: r||s||v (65 bytes), and P-256 signatures
 * carry the device's key: r||s||x||y (128 bytes); see verifyReadingSignature.
 */

const CURVES = { p256, secp256k1 } as const;

/** Sign a reading digest with a software key (development and the demo only). */
/** Hex to bytes as viem's hexToBytes (an odd length padded on the left), without loading viem. */
function hexToBytes(hex: Hex): Uint8Array {
  let digits = hex.slice(2);
  if (digits.length % 2 === 1) digits = `0${digits}`;
  if (!/^0x/.test(hex) || !/^[0-9a-fA-F]*$/.test(digits)) throw new TypeError(`not hex: ${hex.slice(0, 80)}`);
  return new Uint8Array(Buffer.from(digits, "hex"));
}

export function signDigest(curve: CurveName, secretKey: Uint8Array, digest: Hex): Uint8Array {
  const msg = hexToBytes(digest);
  return curve === "p256"
    ? p256.sign(msg, secretKey, { prehash: true, lowS: true })
    : secp256k1.sign(msg, secretKey, { prehash: false, lowS: true });
}

/** The public key (65-byte uncompressed SEC1) of a software secret key. */
export function publicKeyOf(curve: CurveName, secretKey: Uint8Array): Uint8Array {
  return CURVES[curve].getPublicKey(secretKey, false);
}

export function randomSecretKey(curve: CurveName): Uint8Array {
  return CURVES[curve].utils.randomSecretKey();
}

/** Whether a 64-byte r||s has s above n/2. */
export function isHighS(curve: CurveName, signature: Uint8Array): boolean {
  return CURVES[curve].Signature.fromBytes(signature, "compact").hasHighS();
}

/** Flip s to n - s when it is above n/2 (tokens such as SoftHSM2 do not normalise). */
export function normalizeLowS(curve: CurveName, signature: Uint8Array): Uint8Array {
  const sig = CURVES[curve].Signature.fromBytes(signature, "compact");
  if (!sig.hasHighS()) return signature;
  const n = CURVES[curve].Point.CURVE().n;
  return new CURVES[curve].Signature(sig.r, n - sig.s).toBytes("compact");
}

const P256_N = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");
const P256_HALF_N = Buffer.from("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8", "hex");
const ZERO32 = Buffer.alloc(32);

/**
 * A 64-byte P-256 r||s with r in [1, n-1] and s in [1, n/2] (the wire's low-S rule). Byte
 * comparisons: on the bridge's main thread, parsing into big integers cost more than this.
 */
export function isLowSP256(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const r = Buffer.from(signature.buffer, signature.byteOffset, 32);
  const s = Buffer.from(signature.buffer, signature.byteOffset + 32, 32);
  return (
    r.compare(ZERO32) > 0 && r.compare(P256_N) < 0 && s.compare(ZERO32) > 0 && s.compare(P256_HALF_N) <= 0
  );
}

/**
 * The on-chain form of a valid P-256 signature, r||s||x||y: the contract checks the key against
 * the record's key hash instead of reading the key's two storage slots (4,200 gas).
 */
export function p256ChainSignature(signature: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(128);
  out.set(signature, 0);
  out.set(publicKey.subarray(1, 65), 64);
  return out;
}

export type VerifyReadingSignatureParameters = {
  curve: CurveName;
  publicKey: Uint8Array;
  digest: Hex;
  signature: Uint8Array;
};

/**
 * Verify a 64-byte low-S wire signature over a reading digest. Returns the signature in its
 * on-chain form (P-256: r||s||x||y, the device's key appended; secp256k1: r||s||v) when it is
 * valid, or null.
 * P-256 goes through node:crypto (OpenSSL), which measured about 30 times faster here than
 * @noble/curves; secp256k1 goes through libsecp256k1's native binding (protocol/secp256k1-native.mjs:
 * about 15,000 checks/s on one core against 380/s for @noble/curves, which remains the fallback
 * when the binding cannot load; node:crypto cannot take a keccak digest as the message hash).
 */
export function verifyReadingSignature(p: VerifyReadingSignatureParameters): Uint8Array | null {
  if (p.signature.length !== 64) return null;
  if (p.curve === "p256") {
    if (!isLowSP256(p.signature)) return null;
    const ok = cryptoVerify(
      "sha256",
      Buffer.from(p.digest.slice(2), "hex"),
      { key: p256KeyObject(p.publicKey), dsaEncoding: "ieee-p1363" },
      p.signature,
    );
    return ok ? p256ChainSignature(p.signature, p.publicKey) : null;
  }
  const v = secp256k1RecoveryByte(p.publicKey, Buffer.from(p.digest.slice(2), "hex"), p.signature);
  return v ? secp256k1ChainSignature(p.signature, v) : null;
}

/** The on-chain form of a valid secp256k1 signature: r||s||v, v being 27 or 28. */
export function secp256k1ChainSignature(signature: Uint8Array, v: number): Uint8Array {
  const out = new Uint8Array(65);
  out.set(signature, 0);
  out[64] = v;
  return out;
}
