import type { Hex } from "viem";
import {
  type CurveName,
  decodeReadingMessage,
  isLowSP256,
  MAX_FUTURE_SKEW_SEC,
  p256ChainSignature,
  type Reading,
  type ReadingDomain,
  ReadingRejectedError,
  readingDigest,
  secp256k1ChainSignature,
  verifyReadingSignature,
} from "../protocol/index.js";
import type { FleetCertificates } from "./certificates.js";
import { VerifyCheckFailedError } from "./errors.js";
import { type DeviceRegistryView, keyAt } from "./registry/types.js";
import { StoreUnavailableError } from "./store/errors.js";
import { MAX_SEQUENCE_GAP, type ReadingStore, readingId, type StoredReading } from "./store/types.js";
import type { VerifyPool } from "./verify-pool.js";

export type CheckParameters = {
  certificates: FleetCertificates;
  registry: DeviceRegistryView;
  store: ReadingStore;
  domain: ReadingDomain;
  /** How far a reading's timestamp may lie ahead of the bridge's clock (clock skew). */
  maxFutureSkewSec?: number;
  now?: () => number;
  /** Called with the signature verification time in seconds. */
  observeVerify?: (seconds: number) => void;
  /** Where signatures (both curves) are checked off the main thread (bridge/verify-pool.ts); inline without. */
  verifyPool?: VerifyPool;
};

/** How long a device waits before sending again a reading the store could not take (Redis full). */
export const STORE_RETRY_AFTER_MS = 5_000;

export type AcceptedReading = { id: string; reading: Reading; stored: StoredReading };

/**
 * Check one reading message from a device's topic and queue it durably. The checks, in order:
 * wire format and size; the device's enrolled certificate (fleet CA, validity); the registry
 * record (registered, not revoked at the reading's time); one key in all three places (the
 * certificate's reading key, the registry's key, the certificate fingerprint the registry holds);
 * the signature; the timestamp; then replay and enqueue in one atomic store step.
 * Throws ReadingRejectedError with a reason for every refusal.
 */
export async function checkAndQueueReading(
  p: CheckParameters,
  deviceName: string,
  payload: Uint8Array,
): Promise<AcceptedReading> {
  const { reading, signature } = decodeReadingMessage(deviceName, payload);
  const nowMs = (p.now ?? Date.now)();
  const ts = Number(reading.timestamp);
  const digest = readingDigest(reading, p.domain);
  let checked = await checkAgainstRegistry(
    p,
    deviceName,
    reading.deviceId,
    ts,
    nowMs,
    digest,
    signature,
    false,
  );
  if (checked === "stale") {
    // The signature failed against a cached record: a key rotation may not have reached us yet
    // (events arrive within a polling interval). Read the record again once before refusing.
    checked = await checkAgainstRegistry(p, deviceName, reading.deviceId, ts, nowMs, digest, signature, true);
  }
  if (checked === "stale") throw badSignature(deviceName, reading.sequence);
  const { key, chainSig } = checked;
  const maxSkew = p.maxFutureSkewSec ?? MAX_FUTURE_SKEW_SEC;
  if (ts > nowMs / 1000 + maxSkew) {
    throw new ReadingRejectedError("future_timestamp", "Reading timestamp is in the future.", {
      details: `device ${deviceName}, timestamp ${ts}, allowed skew ${maxSkew}s`,
    });
  }
  const id = readingId(deviceName, reading.sequence);
  const stored: StoredReading = {
    id,
    deviceId: reading.deviceId,
    feedId: reading.feedId,
    value: reading.value.toString(),
    timestamp: reading.timestamp.toString(),
    sequence: reading.sequence.toString(),
    signature: `0x${Buffer.from(chainSig).toString("hex")}`,
    curve: key.curve,
    receivedAt: nowMs,
  };
  const outcome = await p.store.accept(stored, deviceName).catch((err: unknown) => {
    // Redis refuses writes for now (at maxmemory, loading, read-only): nothing was stored; the
    // device is told to send the reading again later, never that it was queued.
    if (!(err instanceof StoreUnavailableError)) throw err;
    throw new ReadingRejectedError("unavailable", "The bridge cannot store readings right now.", {
      details: err.code,
      retryAfterMs: STORE_RETRY_AFTER_MS,
      cause: err,
    });
  });
  if (outcome === "gap") {
    throw new ReadingRejectedError(
      "sequence_gap",
      "Sequence jumps too far above the device's highest accepted one.",
      {
        details: `device ${deviceName}, sequence ${reading.sequence}, at most ${MAX_SEQUENCE_GAP} above the last`,
      },
    );
  }
  if (outcome === "replay") {
    throw new ReadingRejectedError("replay", "The bridge already holds this reading.", {
      details: `device ${deviceName}, sequence ${reading.sequence}`,
    });
  }
  if (outcome === "conflict") {
    throw new ReadingRejectedError(
      "sequence_conflict",
      "The bridge holds a different reading under this sequence.",
      { details: `device ${deviceName}, sequence ${reading.sequence}` },
    );
  }
  return { id, reading, stored };
}

/** A reading as signed, from its stored (or served) decimal-string form. */
export function toReading(
  s: Pick<StoredReading, "deviceId" | "feedId" | "value" | "timestamp" | "sequence">,
): Reading {
  return {
    deviceId: s.deviceId,
    feedId: s.feedId,
    value: BigInt(s.value),
    timestamp: BigInt(s.timestamp),
    sequence: BigInt(s.sequence),
  };
}

function badSignature(deviceName: string, sequence: bigint): ReadingRejectedError {
  return new ReadingRejectedError("bad_signature", "Reading signature does not verify with the device key.", {
    details: `device ${deviceName}, sequence ${sequence}`,
  });
}

/**
 * Registry status, the key valid at the reading's time, its certificate, and the signature.
 * Returns "stale" when only the signature failed (the caller may re-read the record once).
 */
async function checkAgainstRegistry(
  p: CheckParameters,
  deviceName: string,
  deviceId: Hex,
  ts: number,
  nowMs: number,
  digest: Hex,
  signature: Uint8Array,
  fresh: boolean,
): Promise<"stale" | { key: NonNullable<ReturnType<typeof keyAt>>; chainSig: Uint8Array }> {
  const device = fresh ? await p.registry.refresh(deviceId, nowMs) : await p.registry.get(deviceId);
  if (!device) {
    throw new ReadingRejectedError("unknown_device", "Device is not registered on-chain.", {
      details: `device ${deviceName}`,
    });
  }
  if (device.status === "revoked" && ts >= device.revokedAt) {
    throw new ReadingRejectedError("revoked", "Device is revoked.", {
      details: `device ${deviceName}, revoked since ${device.revokedAt}`,
    });
  }
  // The key valid at the reading's time: after a rotation, readings taken before it are still the
  // old key's (a device flushes what it buffered).
  const key = keyAt(device, ts);
  if (!key) {
    throw new ReadingRejectedError("revoked", "No key of the device was valid at the reading's time.", {
      details: `device ${deviceName}, reading at ${ts}`,
    });
  }
  const cert = await p.certificates.resolve(
    deviceName,
    new Date(nowMs),
    key.publicKey,
    key.current ? device.certFingerprint : undefined,
  );
  if (cert.curve !== key.curve || (key.current && cert.fingerprint !== device.certFingerprint)) {
    throw new ReadingRejectedError("key_mismatch", "Certificate and registry disagree on the device key.", {
      details: `device ${deviceName}`,
    });
  }
  const t0 = performance.now();
  const chainSig = p.verifyPool
    ? await checkOnPool(p.verifyPool, deviceName, key, digest, signature)
    : verifyReadingSignature({ curve: key.curve, publicKey: key.publicKey, digest, signature });
  p.observeVerify?.((performance.now() - t0) / 1000);
  return chainSig ? { key, chainSig } : "stale";
}

/**
 * The signature checked on the verify pool, in its on-chain form, or null. A check the pool gave
 * up on (it killed its workers again and again) is refused as a bad signature: sent again, it
 * would only kill them again.
 */
async function checkOnPool(
  pool: VerifyPool,
  deviceName: string,
  key: { curve: CurveName; publicKey: Uint8Array },
  digest: Hex,
  signature: Uint8Array,
): Promise<Uint8Array | null> {
  if (key.curve === "p256" && !isLowSP256(signature)) return null;
  let answer: number;
  try {
    answer = await pool.check(key.curve, key.publicKey, Buffer.from(digest.slice(2), "hex"), signature);
  } catch (err) {
    if (!(err instanceof VerifyCheckFailedError)) throw err;
    throw new ReadingRejectedError("bad_signature", "The reading's signature check failed repeatedly.", {
      details: `device ${deviceName}: ${err.details}`,
      cause: err,
    });
  }
  if (answer === 0) return null;
  return key.curve === "p256"
    ? p256ChainSignature(signature, key.publicKey)
    : secp256k1ChainSignature(signature, answer);
}
