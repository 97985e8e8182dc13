import type { Hex } from "viem";
import { type ReadingDomain, readingDigest, verifyReadingSignature } from "../protocol/index.js";
import { toReading } from "./checks.js";
import { type DeviceRegistryView, keyAt, type RegistryDevice } from "./registry/types.js";
import type { CommittedBatch, ReadingStore, StoredReading } from "./store/types.js";

/**
 * Why a reading accepted earlier no longer verifies against the registry as it is now (what
 * `verifyReading` and `updateFeeds` would answer): its device is unknown, revoked from a time at
 * or before the reading's, had no key at the reading's time, or rotated to a new key from a time
 * at or before the reading's (so the key that signed it is not the one valid then).
 */
export const INVALID_REASONS = ["unknown_device", "revoked", "no_key_at_time", "rotated_key"] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

/**
 * Whether `r` verifies against the device's registry record `device` (the rules of the registry's
 * checkSignature), or why not. The signature itself was verified at intake; it is checked again
 * only where the record changed since (a rotation dated before the reading): P-256 signatures
 * carry their key (r||s||x||y), secp256k1 ones are verified again against the key now valid.
 */
export function invalidReason(
  device: RegistryDevice | null,
  r: StoredReading,
  domain: ReadingDomain,
): InvalidReason | null {
  if (!device) return "unknown_device";
  const ts = Number(r.timestamp);
  if (device.status === "revoked" && ts >= device.revokedAt) return "revoked";
  const key = keyAt(device, ts);
  if (!key) return "no_key_at_time";
  if (device.pastKeys.length === 0) return null; // never rotated: the key of intake is the key
  if (key.curve !== r.curve) return "rotated_key";
  const sig = Buffer.from(r.signature.slice(2), "hex");
  if (key.curve === "p256") {
    return sig.length === 128 && Buffer.from(key.publicKey.subarray(1)).equals(sig.subarray(64))
      ? null
      : "rotated_key";
  }
  const ok = verifyReadingSignature({
    curve: key.curve,
    publicKey: key.publicKey,
    digest: readingDigest(toReading(r), domain),
    signature: sig.subarray(0, 64),
  });
  return ok ? null : "rotated_key";
}

/** The registry as it is now, with the domain readings are signed under: what checks validity. */
export class ReadingValidity {
  constructor(
    private readonly registry: DeviceRegistryView,
    private readonly domain: ReadingDomain,
  ) {}

  /** Learn every registry change made up to the chain's head now (see DeviceRegistryView.sync). */
  async sync(): Promise<void> {
    await this.registry.sync?.();
  }

  async check(r: StoredReading): Promise<InvalidReason | null> {
    return invalidReason(await this.registry.get(r.deviceId), r, this.domain);
  }

  /** The readings among `readings` that no longer verify, by id, each device's record read once. */
  async checkAll(readings: StoredReading[]): Promise<Map<string, InvalidReason>> {
    const devices = new Map<Hex, Promise<RegistryDevice | null>>();
    const out = new Map<string, InvalidReason>();
    await Promise.all(
      readings.map(async (r) => {
        let d = devices.get(r.deviceId);
        if (!d) {
          d = this.registry.get(r.deviceId);
          devices.set(r.deviceId, d);
        }
        const reason = invalidReason(await d, r, this.domain);
        if (reason) out.set(r.id, reason);
      }),
    );
    return out;
  }
}

/**
 * What the API shows of a reading beyond "queued" and "committed": "rejected" when the batch cut
 * left it out (it no longer verified then; never committed), "revoked" when it no longer verifies
 * now (a revocation or rotation dated back after it was queued or committed). Null: as stored.
 */
export type ReadingOutcome = { status: "rejected" | "revoked"; reason: string } | null;

export async function readingOutcome(
  validity: ReadingValidity,
  stored: StoredReading,
  batch: Pick<CommittedBatch, "ids" | "leftOut"> | null,
): Promise<ReadingOutcome> {
  if (batch && !batch.ids.includes(stored.id)) {
    const left = batch.leftOut?.find((l) => l.id === stored.id);
    return { status: "rejected", reason: left?.reason ?? "left_out" };
  }
  const reason = await validity.check(stored).catch(() => null); // registry unreachable: as stored
  return reason ? { status: "revoked", reason } : null;
}

/** The view of /readings/:id and /feeds/:feedId/latest, with its outcome (reading-view.ts's type). */
type View<R> = (id: string) => Promise<R | null>;
type Viewed = { status: string; batch?: unknown; proof?: unknown };

/**
 * Wrap the reading view so that a reading the cut left out is served as "rejected" (no batch, no
 * proof: it was never committed) and one that no longer verifies as "revoked" (with its proof,
 * which verifyReading now refuses). For /feeds/:feedId/latest, `latest` gives a view that serves
 * only readings that still verify: a revoked latest is answered like no committed reading.
 */
export function withValidity<R extends Viewed>(
  view: View<R>,
  store: Pick<ReadingStore, "getReadings" | "rootOf" | "getBatch">,
  validity: ReadingValidity,
): { reading: View<R & { reason?: string }>; latest: View<R> } {
  const reading = async (id: string): Promise<(R & { reason?: string }) | null> => {
    const [stored] = await store.getReadings([id]);
    if (!stored) return view(id);
    const root = await store.rootOf(id);
    const batch = root ? await store.getBatch(root) : null;
    const outcome = await readingOutcome(validity, stored, batch);
    if (outcome?.status === "rejected") {
      // Served from the store directly: the view would look for its proof in a batch it is not in.
      return {
        id,
        reading: {
          deviceId: stored.deviceId,
          feedId: stored.feedId,
          value: stored.value,
          timestamp: stored.timestamp,
          sequence: stored.sequence,
        },
        signature: stored.signature,
        curve: stored.curve,
        ...outcome,
      } as unknown as R & { reason?: string };
    }
    const served = await view(id);
    return served && outcome ? { ...served, ...outcome } : served;
  };
  const latest = async (id: string): Promise<R | null> => {
    const served = await reading(id);
    return served?.status === "committed" ? served : null;
  };
  return { reading, latest };
}
