import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { publicKeyOf, randomSecretKey } from "../protocol/signature.js";
import { p256SecretFromPem, p256SecretToPem, publicKeyOfKeyObject, secretKeyObject } from "./secret-key.js";

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");

// secret-key.ts builds keys with node:crypto alone (the agent's load path): they must be the ones
// the PKI built before with @noble/curves computing the public key.
describe("software secret keys with node:crypto", () => {
  it("p256SecretToPem writes the PKCS#8 PEM of the key, public point included, and p256SecretFromPem reads it back", () => {
    for (let i = 0; i < 8; i++) {
      const secret = randomSecretKey("p256");
      const pub = publicKeyOf("p256", secret);
      const expected = createPrivateKey({
        key: {
          kty: "EC",
          crv: "P-256",
          d: b64(secret),
          x: b64(pub.subarray(1, 33)),
          y: b64(pub.subarray(33)),
        },
        format: "jwk",
      })
        .export({ type: "pkcs8", format: "pem" })
        .toString();
      const pem = p256SecretToPem(secret);
      expect(pem).toBe(expected);
      expect(Buffer.from(p256SecretFromPem(pem)).toString("hex")).toBe(Buffer.from(secret).toString("hex"));
    }
  });

  it("computes the public key of both curves", () => {
    for (const curve of ["p256", "secp256k1"] as const) {
      const secret = randomSecretKey(curve);
      expect(b64(publicKeyOfKeyObject(secretKeyObject(curve, secret)))).toBe(b64(publicKeyOf(curve, secret)));
    }
  });

  it("refuses what is not a secret of the curve", () => {
    const k1n = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex");
    expect(() => secretKeyObject("secp256k1", k1n)).toThrow(RangeError);
    expect(() => secretKeyObject("p256", new Uint8Array(32))).toThrow(RangeError);
    expect(() => p256SecretToPem(new Uint8Array(16).fill(7))).toThrow(RangeError);
  });
});
