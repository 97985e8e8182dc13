import type { Hex } from "viem";
import type { DurabilityReport } from "./durability.js";

/** A reading accepted by the bridge, as stored: everything needed to rebuild its leaf and verify it. */
export type StoredReading = {
  id: string;
  deviceId: Hex;
  feedId: Hex;
  value: string;
  timestamp: string;
  sequence: string;
  /** The signature in its on-chain form (P-256: r||s; secp256k1: r||s||v). */
  signature: Hex;
  curve: "p256" | "secp256k1";
  receivedAt: number;
};

/** The newest reading of one feed in a batch. */
export type FeedLatest = { feedId: Hex; timestamp: string; id: string };

/** The newest reading of each feed among these readings (on equal times, the later one). */
export function latestPerFeed(readings: StoredReading[]): FeedLatest[] {
  const best = new Map<Hex, StoredReading>();
  for (const r of readings) {
    const cur = best.get(r.feedId);
    if (!cur || BigInt(r.timestamp) >= BigInt(cur.timestamp)) best.set(r.feedId, r);
  }
  return [...best.values()].map((r) => ({ feedId: r.feedId, timestamp: r.timestamp, id: r.id }));
}

/** A batch cut from the queue, not yet known to be committed. */
export type PendingBatch = { seq: number; ids: string[] };

export type CommittedBatch = {
  root: Hex;
  /** The readings committed under the root (the cut's ids less those left out). */
  ids: string[];
  /**
   * Readings of the cut left out because they no longer verified against the registry
   * (bridge/reading-validity.ts), with the reason: kept with the batch so they stay inspectable
   * (`rejected` in the API). Their ids point at this root like the committed ones.
   */
  leftOut?: { id: string; reason: string }[];
  txHash: Hex;
  blockNumber: string;
  gasUsed: string;
  committedAt: number;
};

/**
 * Where accepted readings live until they are committed, and after. Every implementation makes
 * the replay check and the enqueue one atomic step, and cuts batches so that a batch cut but not
 * recorded as committed is handed out again (same ids, same root) after a crash.
 */
export interface ReadingStore {
  readonly durable: boolean;
  /**
   * Queue a reading ("queued") if its sequence is above the device's highest accepted one (by at
   * most MAX_SEQUENCE_GAP, else "gap"), or below it and not held: the store keeps every reading it
   * accepted, so one it does not hold was never accepted, however late it comes (a backlog sent
   * in any order is taken whole). Otherwise, and changing nothing: "replay" when the store holds
   * this very reading (same device, sequence and signed content), "conflict" when it holds a
   * different reading under that device and sequence. Only "queued" and "replay" mean the store
   * holds the reading. (When readings leave Redis for an archive, HotStore.acceptChecked asks
   * the caller to check the archive; bridge/archive/archived-store.ts: docs/PROTOCOL.md.)
   * Throws StoreUnavailableError (retryable, nothing written) when the store refuses writes for now.
   */
  accept(reading: StoredReading, deviceName: string): Promise<AcceptOutcome>;
  /**
   * Acquire or renew the submitter lease for `owner` (one submitter per chain). Returns the
   * fencing token while `owner` holds it, null while another does.
   */
  lease(owner: string, ttlMs: number): Promise<number | null>;
  /**
   * Give the submitter lease up at once (graceful shutdown) if `owner` holds it: another owner
   * can take it immediately, under a new fencing token. False when `owner` did not hold it.
   */
  releaseLease(owner: string): Promise<boolean>;
  /** Whether an acknowledged reading survives a crash and memory pressure (assertDurable throws if not). */
  checkDurability(): Promise<DurabilityReport>;
  /**
   * The batch in flight if there is one, else a new batch of up to `max` queued readings, else
   * null. Throws when `fence` is no longer the lease's token.
   */
  nextBatch(max: number, fence: number): Promise<PendingBatch | null>;
  /**
   * Record a pending batch as committed (its readings point at the root), and each feed's latest
   * committed reading if the batch holds a newer one; fenced like nextBatch.
   */
  completeBatch(
    batch: PendingBatch,
    committed: CommittedBatch,
    fence: number,
    feeds?: FeedLatest[],
  ): Promise<void>;
  /** Committed batches not yet buried under enough confirmations (roots). */
  unfinalizedBatches(): Promise<CommittedBatch[]>;
  /** Record a new commit of a batch (after a reorg dropped the first), or that it is final. */
  updateBatch(batch: CommittedBatch, final: boolean): Promise<void>;
  /** The id of a feed's latest committed reading. */
  latestOfFeed(feedId: Hex): Promise<string | null>;
  /** A device's highest accepted sequence. */
  lastSequence(deviceName: string): Promise<bigint | null>;
  getReadings(ids: string[]): Promise<(StoredReading | null)[]>;
  /** The root a reading was committed under, or null while it waits. */
  rootOf(id: string): Promise<Hex | null>;
  getBatch(root: Hex): Promise<CommittedBatch | null>;
  queueDepth(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The answer of HotStore.acceptChecked: an AcceptOutcome, or "look in the archive": the reading
 * is not in the hot store and its sequence is at or below the device's trimmed floor (readings
 * up to it have left for the archive). `generation` is the store's trim generation at that moment.
 */
export type HotAcceptOutcome = AcceptOutcome | { checkArchive: number };

/** How far the archive is behind: final batches in Redis not yet in the archive. */
export type ArchiveLag = { batches: number; readings: number; oldestCommittedAt: number | null };

/**
 * A store whose committed batches move to an archive (RedisStore). Lifecycle of a batch:
 * committed (completeBatch) -> final (updateBatch final: queued for the archive) -> written to
 * the archive (markArchived) -> trimmed from the hot store after a short hot period
 * (trimArchived). Each step is one atomic store operation and every step is repeatable, so a
 * crash between any two loses nothing and duplicates nothing.
 */
export interface HotStore extends ReadingStore {
  /** accept(), but a reading below the trimmed floor is answered {checkArchive} unless `generation` is still current. */
  acceptChecked(
    reading: StoredReading,
    deviceName: string,
    generation: number | null,
  ): Promise<HotAcceptOutcome>;
  /** Up to `max` final batches not yet archived, oldest commit first. */
  archivable(max: number): Promise<CommittedBatch[]>;
  /** These batches are in the archive now (`at`, ms): they leave the archive queue. */
  markArchived(batches: CommittedBatch[], at: number): Promise<void>;
  /** Delete up to `max` batches archived before `archivedBefore` (ms) with their readings. */
  trimArchived(archivedBefore: number, max: number): Promise<{ batches: number; readings: number }>;
  archiveLag(): Promise<ArchiveLag>;
  /** Queue for the archive final batches stored before the archive existed (an upgrade); returns how many. */
  adoptUnarchived(): Promise<number>;
}

export const isHotStore = (s: ReadingStore): s is HotStore =>
  typeof (s as Partial<HotStore>).acceptChecked === "function";

/**
 * "queued" and "replay": the store holds the reading (ack it as delivered). "gap", "conflict":
 * refused, nothing changed.
 */
export type AcceptOutcome = "queued" | "replay" | "gap" | "conflict";

/**
 * How far one reading's sequence may jump above the device's highest accepted one (a new device:
 * above 0). Gaps up to it are normal (lost readings, restarts); a larger jump, such as a sequence
 * near 2^64, would leave the device no room for later readings, so it is refused and changes
 * nothing. 2^32 is about 136 years of one reading per second.
 */
export const MAX_SEQUENCE_GAP = 1n << 32n;

/**
 * Replay window (docs/PROTOCOL.md): how far below a device's highest sequence a reading counts as
 * recent (the agent's outbox and resend policy are sized by it). The bridge checks a late reading
 * exactly however old: in Redis while it is hot, then in the archive (HotStore.acceptChecked);
 * only a reading the archive may have dropped under its retention is answered `outside_window`.
 */
export const REPLAY_WINDOW = 1024n;

/** The lowest highest-accepted sequence from which `seq` is within MAX_SEQUENCE_GAP, padded. */
export const gapFloor = (seq: bigint) => padSequence(seq > MAX_SEQUENCE_GAP ? seq - MAX_SEQUENCE_GAP : 0n);

/**
 * Sequence numbers compare as fixed-width decimal strings (Lua numbers are doubles): 21 digits,
 * so that a uint64 plus the replay window still fits.
 */
export const padSequence = (seq: string | bigint) => seq.toString().padStart(21, "0");

export const readingId = (deviceName: string, sequence: bigint | string) =>
  `${deviceName}:${sequence.toString()}`;
