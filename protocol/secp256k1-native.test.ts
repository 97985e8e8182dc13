import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { describe, expect, it } from "vitest";
import { secp256k1Implementation, secp256k1RecoveryByte } from "./secp256k1-native.mjs";
import { normalizeLowS, verifyReadingSignature } from "./signature.js";

const N = secp256k1.Point.CURVE().n;

describe("secp256k1 reading signatures through libsecp256k1", () => {
  it("loads the native binding (linux-x64 prebuilt), never the package's JavaScript fallback", () => {
    expect(secp256k1Implementation).toBe("native");
  });

  it("gives the recovery byte @noble/curves gives, and 0 for a wrong key, digest or a high S", () => {
    const secret = secp256k1.utils.randomSecretKey();
    const key = secp256k1.getPublicKey(secret, false);
    const other = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const digest = randomBytes(32);
      const rec = secp256k1.sign(digest, secret, { prehash: false, lowS: true, format: "recovered" });
      const sig = rec.subarray(1, 65);
      const v = 27 + (rec[0] as number);
      seen.add(v);
      expect(secp256k1RecoveryByte(key, digest, sig)).toBe(v);
      expect(secp256k1RecoveryByte(other, digest, sig)).toBe(0);
      expect(secp256k1RecoveryByte(key, randomBytes(32), sig)).toBe(0);
      // The same signature with s flipped to n - s (high S) is valid ECDSA but not on the wire.
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString("hex")}`);
      const high = new Uint8Array(64);
      high.set(sig.subarray(0, 32));
      high.set(Buffer.from((N - s).toString(16).padStart(64, "0"), "hex"), 32);
      expect(secp256k1RecoveryByte(key, digest, high)).toBe(0);
      expect(normalizeLowS("secp256k1", high)).toEqual(sig);
      const chain = verifyReadingSignature({
        curve: "secp256k1",
        publicKey: key,
        digest: `0x${digest.toString("hex")}`,
        signature: sig,
      });
      expect(chain?.[64]).toBe(v);
    }
    expect([...seen].sort()).toEqual([27, 28]);
  });

  it("says 0 to r or s of zero or at least n, and to wrong lengths", () => {
    const key = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false);
    const digest = randomBytes(32);
    const zero = new Uint8Array(64);
    const ff = new Uint8Array(64).fill(0xff);
    expect(secp256k1RecoveryByte(key, digest, zero)).toBe(0);
    expect(secp256k1RecoveryByte(key, digest, ff)).toBe(0);
    expect(secp256k1RecoveryByte(key.subarray(0, 33), digest, randomBytes(64))).toBe(0);
  });
});
