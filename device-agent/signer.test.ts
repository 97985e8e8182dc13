import { randomBytes } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import type { Hex } from "viem";
import { describe, expect, it } from "vitest";
import { publicKeyOf, randomSecretKey, verifyReadingSignature } from "../protocol/signature.js";
import { SoftwareSigner } from "./signer.js";

const digest = (): Hex => `0x${randomBytes(32).toString("hex")}`;
const quiet = { warn: () => {} };

// The software signer signs P-256 through node:crypto (OpenSSL) and computes both curves' public
// keys there: the keys must be the protocol's, the signatures the wire's (64 bytes, low-S, valid).
describe("SoftwareSigner", () => {
  for (const curve of ["p256", "secp256k1"] as const) {
    it(`${curve}: the protocol's public key, and valid low-S signatures the bridge accepts`, async () => {
      for (let k = 0; k < 4; k++) {
        const secret = randomSecretKey(curve);
        const signer = new SoftwareSigner(curve, secret, quiet);
        expect(Buffer.from(signer.publicKey).toString("hex")).toBe(
          Buffer.from(publicKeyOf(curve, secret)).toString("hex"),
        );
        // OpenSSL picks s or n - s at random: 40 signatures leave about 1 in 10^12 chance of no high s.
        for (let i = 0; i < 10; i++) {
          const d = digest();
          const signature = await signer.sign(d);
          expect(signature).toHaveLength(64);
          expect(
            verifyReadingSignature({ curve, publicKey: signer.publicKey, digest: d, signature }),
          ).not.toBe(null);
        }
      }
    });
  }

  it("p256: ES256 over the digest, as @noble/curves checks it (prehash, low-S)", async () => {
    const secret = randomSecretKey("p256");
    const signer = new SoftwareSigner("p256", secret, quiet);
    const d = digest();
    const signature = await signer.sign(d);
    const msg = Buffer.from(d.slice(2), "hex");
    expect(p256.verify(signature, msg, signer.publicKey, { prehash: true, lowS: true })).toBe(true);
    expect(p256.verify(signature, randomBytes(32), signer.publicKey, { prehash: true })).toBe(false);
  });

  it("refuses a secret that is not a key of the curve", () => {
    const n = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");
    for (const bad of [new Uint8Array(32), n, new Uint8Array(31).fill(1), Buffer.alloc(32, 0xff)])
      expect(() => new SoftwareSigner("p256", bad, quiet)).toThrow(RangeError);
    expect(() => new SoftwareSigner("p256", randomBytes(33), quiet)).toThrow(RangeError);
  });

  it("keeps its secret out of JSON", () => {
    const signer = new SoftwareSigner("p256", randomSecretKey("p256"), quiet);
    expect(JSON.stringify(signer)).toBe('{"curve":"p256","kind":"software"}');
  });
});
