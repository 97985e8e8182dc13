import type { Hex } from "viem";
import { describe, expect, it } from "vitest";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  feedIdOf,
  publicKeyOf,
  randomSecretKey,
} from "../protocol/index.js";
import { signedStoredReading } from "../testkit/signed-reading.js";
import { invalidReason } from "./reading-validity.js";
import type { RegistryDevice } from "./registry/types.js";

const domain = { chainId: 31337, registry: `0x${"5e".repeat(20)}` as Hex };
const feedId = feedIdOf("cold-room-7/temperature");

function key(curve: CurveName) {
  const readingSecretKey = randomSecretKey(curve);
  const readingPublicKey = publicKeyOf(curve, readingSecretKey);
  const deviceId = deviceIdOf(curve, readingPublicKey);
  return { curve, readingSecretKey, readingPublicKey, deviceId, name: deviceIdToName(deviceId) };
}

const record = (k: ReturnType<typeof key>, over: Partial<RegistryDevice> = {}): RegistryDevice => ({
  curve: k.curve,
  status: "active",
  validFrom: 1_000,
  revokedAt: 0,
  publicKey: k.readingPublicKey,
  certFingerprint: `0x${"00".repeat(32)}`,
  pastKeys: [],
  ...over,
});

describe("whether a reading still verifies against the registry (the rules of checkSignature)", () => {
  for (const curve of ["p256", "secp256k1"] as const) {
    it(`${curve}: revoked from since on, no key before validFrom, unknown device`, () => {
      const k = key(curve);
      const at = (timestamp: number) =>
        signedStoredReading(k, domain, { feedId, value: 1n, timestamp: BigInt(timestamp), sequence: 1n });
      expect(invalidReason(record(k), at(2_000), domain)).toBeNull();
      expect(invalidReason(null, at(2_000), domain)).toBe("unknown_device");
      expect(invalidReason(record(k), at(999), domain)).toBe("no_key_at_time");
      const revoked = record(k, { status: "revoked", revokedAt: 2_000 });
      expect(invalidReason(revoked, at(1_999), domain)).toBeNull();
      expect(invalidReason(revoked, at(2_000), domain)).toBe("revoked");
    });

    it(`${curve}: after a rotation dated at, the old key's readings verify before at only`, () => {
      const k = key(curve);
      const next = key(curve);
      const rotated = record(k, {
        publicKey: next.readingPublicKey,
        validFrom: 3_000,
        pastKeys: [{ curve, publicKey: k.readingPublicKey, validFrom: 1_000, validUntil: 3_000 }],
      });
      const old = (timestamp: number) =>
        signedStoredReading(k, domain, { feedId, value: 1n, timestamp: BigInt(timestamp), sequence: 1n });
      const fresh = signedStoredReading({ ...next, deviceId: k.deviceId, name: k.name }, domain, {
        feedId,
        value: 1n,
        timestamp: 3_500n,
        sequence: 2n,
      });
      expect(invalidReason(rotated, old(2_999), domain)).toBeNull();
      expect(invalidReason(rotated, old(3_000), domain)).toBe("rotated_key");
      expect(invalidReason(rotated, fresh, domain)).toBeNull();
    });
  }
});
