import type { Hex } from "viem";
import { readingId, type StoredReading } from "../bridge/store/types.js";
import type { IssuedDevice } from "../pki/fleet-ca.js";
import { type ReadingDomain, readingDigest, signDigest, verifyReadingSignature } from "../protocol/index.js";

/**
 * A reading signed with a device's software key, as the bridge stores it once accepted (its
 * signature in the on-chain form): for tests that feed the batcher or the pusher directly.
 */
export function signedStoredReading(
  d: Pick<IssuedDevice, "curve" | "deviceId" | "name" | "readingPublicKey" | "readingSecretKey">,
  domain: ReadingDomain,
  r: { feedId: Hex; value: bigint; timestamp: bigint; sequence: bigint },
): StoredReading {
  const digest = readingDigest({ deviceId: d.deviceId, ...r }, domain);
  const chainSig = verifyReadingSignature({
    curve: d.curve,
    publicKey: d.readingPublicKey,
    digest,
    signature: signDigest(d.curve, d.readingSecretKey, digest),
  });
  if (!chainSig) throw new Error("the device's own signature does not verify");
  return {
    id: readingId(d.name, r.sequence),
    deviceId: d.deviceId,
    feedId: r.feedId,
    value: r.value.toString(),
    timestamp: r.timestamp.toString(),
    sequence: r.sequence.toString(),
    signature: `0x${Buffer.from(chainSig).toString("hex")}`,
    curve: d.curve,
    receivedAt: Date.now(),
  };
}
