import type { Hex } from "viem";
import { ReadingRejectedError } from "../../protocol/errors.js";
import { StoreUnavailableError } from "../store/errors.js";
import type {
  AcceptOutcome,
  CommittedBatch,
  FeedLatest,
  HotStore,
  PendingBatch,
  ReadingStore,
  StoredReading,
} from "../store/types.js";
import { ArchiveUnavailableError } from "./errors.js";
import type { Archive } from "./types.js";

/** How often accept() asks the archive again when trims keep running meanwhile (then: retry later). */
const MAX_ARCHIVE_CHECKS = 5;

/** The signed content that makes two copies one reading (as the store's replay check). */
const sameSignedContent = (a: StoredReading, b: StoredReading) =>
  a.deviceId.toLowerCase() === b.deviceId.toLowerCase() &&
  a.feedId.toLowerCase() === b.feedId.toLowerCase() &&
  a.value === b.value &&
  a.timestamp === b.timestamp;

export type ArchivedStoreParameters = {
  hot: HotStore;
  archive: Archive;
  /** Archived batches older than this may have been dropped (archive.retentionDays); none: kept for ever. */
  retentionDays?: number | undefined;
  /** Whether the archive lags more than allowed: new readings are refused (retry) until it catches up. */
  archiveTooFarBehind?: () => boolean;
};

/**
 * The bridge's store when it has an archive: Redis (the hot store) for the pipeline and recent
 * readings, the archive for what has left Redis. Reads look in Redis first, then in the archive
 * (a reading leaves Redis only after its batch is in the archive, so one of them always has it).
 *
 * The replay check of a late reading (a sequence at or below the device's highest): Redis answers
 * it while the device's readings of that age are hot; below the device's trimmed floor it asks
 * the archive: held there with the same signed content, `replay`; with other content,
 * `conflict`; absent, the reading was never accepted and is queued (HotStore.acceptChecked makes
 * that exact against a trim running meanwhile). With a retention, a reading older than the
 * retention (whose batch the archive may have dropped) cannot be checked: `outside_window`.
 * The archive down: `retry` (StoreUnavailableError), nothing stored.
 */
export class ArchivedStore implements ReadingStore {
  readonly durable: boolean;
  constructor(private readonly p: ArchivedStoreParameters) {
    this.durable = p.hot.durable;
  }

  async accept(reading: StoredReading, deviceName: string): Promise<AcceptOutcome> {
    if (this.p.archiveTooFarBehind?.())
      throw new StoreUnavailableError("ARCHIVE_LAG", {
        details: "the archive is too far behind: committed batches wait in Redis",
      });
    let generation: number | null = null;
    for (let i = 0; i < MAX_ARCHIVE_CHECKS; i++) {
      const outcome = await this.p.hot.acceptChecked(reading, deviceName, generation);
      if (typeof outcome === "string") return outcome;
      generation = outcome.checkArchive;
      const [held] = await this.p.archive.getReadings([reading.id]).catch((err: unknown) => {
        if (err instanceof ArchiveUnavailableError)
          throw new StoreUnavailableError("ARCHIVE", { cause: err, details: err.shortMessage });
        throw err;
      });
      if (held) return sameSignedContent(held, reading) ? "replay" : "conflict";
      if (this.beyondRetention(reading))
        throw new ReadingRejectedError(
          "outside_window",
          "The bridge can no longer tell whether it holds this reading (older than the archive's retention).",
          { details: `reading ${reading.id}, signed at ${reading.timestamp}` },
        );
    }
    throw new StoreUnavailableError("BUSY", { details: "Redis kept trimming while the archive was asked" });
  }

  /** Signed before the retention horizon, with a day's margin (a batch is committed after its readings are signed). */
  private beyondRetention(r: StoredReading): boolean {
    if (this.p.retentionDays === undefined) return false;
    const horizonSec = Date.now() / 1000 - (this.p.retentionDays - 1) * 86_400;
    return Number(r.timestamp) < horizonSec;
  }

  async getReadings(ids: string[]): Promise<(StoredReading | null)[]> {
    const hot = await this.p.hot.getReadings(ids);
    const missing = ids.filter((_, i) => hot[i] === null);
    if (missing.length === 0) return hot;
    const cold = new Map(
      (await this.p.archive.getReadings(missing))
        .filter((r) => r !== null)
        .map(({ root: _root, ...r }) => [r.id, r as StoredReading]),
    );
    return hot.map((r, i) => r ?? cold.get(ids[i] as string) ?? null);
  }

  async rootOf(id: string): Promise<Hex | null> {
    const hot = await this.p.hot.rootOf(id);
    if (hot) return hot;
    // Still in Redis without a root: queued or in flight (a reading and its root leave Redis
    // together), so the archive is not asked (and a down archive does not fail the answer).
    const [held] = await this.p.hot.getReadings([id]);
    if (held) return null;
    const [cold] = await this.p.archive.getReadings([id]);
    return cold?.root ?? null;
  }

  async getBatch(root: Hex): Promise<CommittedBatch | null> {
    return (await this.p.hot.getBatch(root)) ?? this.p.archive.getBatch(root);
  }

  // The pipeline's state stays in Redis.
  lease(owner: string, ttlMs: number) {
    return this.p.hot.lease(owner, ttlMs);
  }
  releaseLease(owner: string) {
    return this.p.hot.releaseLease(owner);
  }
  checkDurability() {
    return this.p.hot.checkDurability();
  }
  nextBatch(max: number, fence: number) {
    return this.p.hot.nextBatch(max, fence);
  }
  completeBatch(batch: PendingBatch, committed: CommittedBatch, fence: number, feeds?: FeedLatest[]) {
    return this.p.hot.completeBatch(batch, committed, fence, feeds);
  }
  unfinalizedBatches() {
    return this.p.hot.unfinalizedBatches();
  }
  updateBatch(batch: CommittedBatch, final: boolean) {
    return this.p.hot.updateBatch(batch, final);
  }
  latestOfFeed(feedId: Hex) {
    return this.p.hot.latestOfFeed(feedId);
  }
  lastSequence(deviceName: string) {
    return this.p.hot.lastSequence(deviceName);
  }
  queueDepth() {
    return this.p.hot.queueDepth();
  }
  /** The hot store and the archive are closed by whoever opened them. */
  async close(): Promise<void> {}
}
