import type { Hex } from "viem";
import type { CommittedBatch, StoredReading } from "../store/types.js";
import { ArchiveBatchInvalidError } from "./errors.js";
import { type ArchivedReading, deviceOfId } from "./types.js";

/*
 * The archive's two tables, the same in SQLite and PostgreSQL:
 *   so_batches   one row per committed batch (root, transaction, block, gas, commit time, size)
 *   so_readings  one row per reading: its id, batch root and leaf position, device name, feed,
 *                signed time, and the signed content with its signature
 *   so_left_out  one row per reading the batch cut left out (it no longer verified against the
 *                registry: never committed), with the same columns and the reason (CommittedBatch
 *                `leftOut`): kept so that it is still shown `rejected` with its reason, and a resend of
 *                it is still a replay, after it leaves Redis with its batch
 * Indexes: readings by (root, position) to rebuild a tree, by (device, ts, id) and (feed_id, ts, id)
 * for the paged lookups (committed readings only); batches by commit time for retention; left-out
 * readings by (root, position). Every table is created if missing (an archive of an earlier
 * version gains so_left_out when a bridge opens it).
 */
export const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS so_batches (
    root TEXT PRIMARY KEY,
    tx_hash TEXT NOT NULL,
    block_number TEXT NOT NULL,
    gas_used TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    size INTEGER NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS so_batches_committed ON so_batches (committed_at)`,
  `CREATE TABLE IF NOT EXISTS so_readings (
    id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    position INTEGER NOT NULL,
    device TEXT NOT NULL,
    feed_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    sequence TEXT NOT NULL,
    value TEXT NOT NULL,
    signature TEXT NOT NULL,
    curve TEXT NOT NULL,
    received_at BIGINT NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS so_readings_root ON so_readings (root, position)`,
  `CREATE INDEX IF NOT EXISTS so_readings_device ON so_readings (device, ts, id)`,
  `CREATE INDEX IF NOT EXISTS so_readings_feed ON so_readings (feed_id, ts, id)`,
  `CREATE TABLE IF NOT EXISTS so_left_out (
    id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    position INTEGER NOT NULL,
    reason TEXT NOT NULL,
    device TEXT NOT NULL,
    feed_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    sequence TEXT NOT NULL,
    value TEXT NOT NULL,
    signature TEXT NOT NULL,
    curve TEXT NOT NULL,
    received_at BIGINT NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS so_left_out_root ON so_left_out (root, position)`,
];

/** A reading row, as both databases return it. */
export type ReadingRow = {
  id: string;
  root: string;
  device: string;
  feed_id: string;
  ts: number | string | bigint;
  sequence: string;
  value: string;
  signature: string;
  curve: string;
  received_at: number | string | bigint;
};

export type BatchRow = {
  root: string;
  tx_hash: string;
  block_number: string;
  gas_used: string;
  committed_at: number | string | bigint;
};

export const READING_COLUMNS =
  "id, root, device, feed_id, ts, sequence, value, signature, curve, received_at";

export function readingOfRow(r: ReadingRow): ArchivedReading {
  return {
    id: r.id,
    // The device id is the device name as bytes32 (protocol/reading.ts deviceIdToName).
    deviceId: `0x${r.device}` as Hex,
    feedId: r.feed_id as Hex,
    value: r.value,
    timestamp: String(r.ts),
    sequence: r.sequence,
    signature: r.signature as Hex,
    curve: r.curve as StoredReading["curve"],
    receivedAt: Number(r.received_at),
    root: r.root as Hex,
  };
}

/** A batch as stored; `leftOut` only when the cut left readings out (as the batcher records it). */
export function batchOfRow(
  b: BatchRow,
  ids: string[],
  leftOut: { id: string; reason: string }[] = [],
): CommittedBatch {
  return {
    root: b.root as Hex,
    ids,
    ...(leftOut.length > 0 ? { leftOut } : {}),
    txHash: b.tx_hash as Hex,
    blockNumber: b.block_number,
    gasUsed: b.gas_used,
    committedAt: Number(b.committed_at),
  };
}

/**
 * The readings of a batch in leaf order, checked against its ids, and its left-out readings
 * against its `leftOut` (same order); a mismatch is never written.
 */
export function checkBatch(
  batch: CommittedBatch,
  readings: StoredReading[],
  leftOut: StoredReading[] = [],
): void {
  if (readings.length !== batch.ids.length || readings.some((r, i) => r.id !== batch.ids[i]))
    throw new ArchiveBatchInvalidError(`Batch ${batch.root}: its readings do not match its ids.`);
  const left = batch.leftOut ?? [];
  if (leftOut.length !== left.length || leftOut.some((r, i) => r.id !== left[i]?.id))
    throw new ArchiveBatchInvalidError(`Batch ${batch.root}: its left-out readings do not match its record.`);
  for (const r of [...readings, ...leftOut])
    if (`0x${deviceOfId(r.id)}` !== r.deviceId.toLowerCase())
      throw new ArchiveBatchInvalidError(`Batch ${batch.root}: reading ${r.id} names another device.`);
}
