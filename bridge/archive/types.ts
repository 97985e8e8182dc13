import type { Hex } from "viem";
import type { CommittedBatch, StoredReading } from "../store/types.js";
import { ArchiveCursorInvalidError } from "./errors.js";

/**
 * A committed, final batch as the archive keeps it: the batch record (root, transaction, block)
 * and its readings in leaf order, each with its signature. The Merkle tree is not stored: it is
 * rebuilt from the readings in that order (deterministic: the same readings in the same order give
 * the committed root), which serves a proof for any reading for the life of the archive.
 */
export type ArchivedBatch = { batch: CommittedBatch; readings: StoredReading[] };

/** A page of readings by device or by feed, oldest signed time first (then by id). */
export type ReadingPageQuery = {
  /** Signed timestamps (seconds), inclusive. */
  from?: number;
  to?: number;
  limit: number;
  /** The `next` of the previous page. */
  cursor?: string;
};

export type ArchivedReading = StoredReading & { root: Hex };

export type ReadingPage = { readings: ArchivedReading[]; next: string | null };

/**
 * Where committed, final batches live for the life of the deployment (or `retentionDays`), after
 * they leave Redis. Writes are idempotent (keyed by root and reading id): several bridges may share
 * one archive, and a batch written twice (a crash after the write, before Redis is trimmed) is
 * stored once. Every method throws ArchiveUnavailableError when the archive cannot be reached.
 */
export interface Archive {
  readonly kind: "sqlite" | "postgres";
  /** Connect and create the schema if it is missing. */
  open(): Promise<void>;
  /** Whether the archive answers now (readiness). */
  ping(): Promise<void>;
  /**
   * Store a batch with its readings (in leaf order) and the readings its cut left out (in the
   * order of its `leftOut`, each with its reason) in one transaction; a no-op if they are stored.
   */
  writeBatch(batch: CommittedBatch, readings: StoredReading[], leftOut?: StoredReading[]): Promise<void>;
  /** The batch with its ids in leaf order and, if its cut left readings out, its `leftOut`. */
  getBatch(root: Hex): Promise<CommittedBatch | null>;
  /** Committed and left-out readings by id (a left-out one with the root of the cut that left it out). */
  getReadings(ids: string[]): Promise<(ArchivedReading | null)[]>;
  readingsOfDevice(deviceName: string, q: ReadingPageQuery): Promise<ReadingPage>;
  readingsOfFeed(feedId: Hex, q: ReadingPageQuery): Promise<ReadingPage>;
  /** Drop batches committed before `committedBefore` (ms since the epoch) with their readings (left-out ones too). */
  prune(committedBefore: number): Promise<{ batches: number; readings: number }>;
  /** Counts and (where the database tells) bytes on disk, for sizing. */
  stats(): Promise<{ batches: number; readings: number; bytes: number | null }>;
  close(): Promise<void>;
}

/** The largest page a lookup returns (a bigger `limit` is capped to it). */
export const MAX_PAGE_LIMIT = 1000;

/** A page cursor: the signed time and id of the last reading of the page (opaque to clients). */
export function encodeCursor(r: { timestamp: string; id: string }): string {
  return Buffer.from(`${r.timestamp}|${r.id}`).toString("base64url");
}

export function decodeCursor(cursor: string): { timestamp: number; id: string } {
  const [ts, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const timestamp = Number(ts);
  if (!id || !Number.isSafeInteger(timestamp) || !/^[0-9a-f]{64}:[0-9]{1,20}$/.test(id))
    throw new ArchiveCursorInvalidError("Not a cursor this bridge issued.");
  return { timestamp, id };
}

/** The device name of a reading id (`<device name>:<sequence>`). */
export const deviceOfId = (id: string) => id.slice(0, id.indexOf(":"));
