import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedIdOf, isHighS, readingDigest, verifyReadingSignature } from "../protocol/index.js";
import { createSoftHsmToken, SOFTHSM_MODULE, type SoftHsm } from "../testkit/softhsm.js";
import { Pkcs11Token } from "./pkcs11-signer.js";

const DOMAIN = { chainId: 31337, registry: `0x${"22".repeat(20)}` as Hex };

describe("keys in a PKCS#11 token (SoftHSM2)", () => {
  let hsm: SoftHsm;
  let token: Pkcs11Token;

  beforeAll(() => {
    hsm = createSoftHsmToken("signer-test");
    token = Pkcs11Token.open({
      modulePath: SOFTHSM_MODULE,
      token: { label: hsm.label },
      pin: { file: hsm.pinFile },
    });
  });

  afterAll(() => {
    token?.close();
    hsm?.cleanup();
  });

  it("generates sensitive, non-extractable keys on both curves and signs low-S, concurrently", async () => {
    for (const curve of ["p256", "secp256k1"] as const) {
      const label = `probe-${curve}`;
      const pub = token.generateKey({ curve, label });
      expect(token.keyProtection(label)).toEqual({ sensitive: true, extractable: false });
      const signer = token.signer(curve, label);
      const digests = Array.from({ length: 64 }, (_, i) =>
        readingDigest(
          {
            deviceId: `0x${"11".repeat(32)}`,
            feedId: feedIdOf("probe/temperature"),
            value: BigInt(i),
            timestamp: 1n,
            sequence: BigInt(i + 1),
          },
          DOMAIN,
        ),
      );
      const sigs = await Promise.all(digests.map((d) => signer.sign(d)));
      sigs.forEach((sig, i) => {
        expect(isHighS(curve, sig)).toBe(false);
        expect(
          verifyReadingSignature({ curve, publicKey: pub, digest: digests[i] as Hex, signature: sig }),
        ).not.toBeNull();
      });
    }
  });
});
