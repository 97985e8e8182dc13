import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Hex } from "viem";
import type { CommittedBatch, StoredReading } from "../store/types.js";
import { ArchiveUnavailableError } from "./errors.js";
import {
  type BatchRow,
  batchOfRow,
  checkBatch,
  READING_COLUMNS,
  type ReadingRow,
  readingOfRow,
  SCHEMA,
} from "./schema.js";
import {
  type Archive,
  type ArchivedReading,
  decodeCursor,
  deviceOfId,
  encodeCursor,
  MAX_PAGE_LIMIT,
  type ReadingPage,
  type ReadingPageQuery,
} from "./types.js";

/**
 * The embedded archive: one SQLite file (node:sqlite), for a single bridge and the demo. WAL
 * journal with synchronous=FULL: a batch reported written survives a power cut. One writer:
 * not for several bridges (use PostgreSQL). Calls are synchronous underneath (they hold the event
 * loop for their duration: measured in docs/BENCHMARKS.md).
 */
export class SqliteArchive implements Archive {
  readonly kind = "sqlite" as const;
  private db: DatabaseSync | null = null;
  private readonly statements = new Map<string, StatementSync>();

  constructor(readonly path: string) {}

  async open(): Promise<void> {
    if (this.db) return;
    try {
      if (this.path !== ":memory:") mkdirSync(dirname(this.path), { recursive: true });
      const db = new DatabaseSync(this.path);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA busy_timeout = 5000");
      for (const s of SCHEMA) db.exec(s);
      this.db = db;
    } catch (err) {
      throw new ArchiveUnavailableError(`SQLite archive ${this.path} cannot be opened.`, {
        cause: err,
        details: (err as Error).message,
      });
    }
  }

  private stmt(sql: string): StatementSync {
    if (!this.db) throw new ArchiveUnavailableError("SQLite archive is not open.");
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  async ping(): Promise<void> {
    this.stmt("SELECT 1").get();
  }

  async writeBatch(
    batch: CommittedBatch,
    readings: StoredReading[],
    leftOut: StoredReading[] = [],
  ): Promise<void> {
    checkBatch(batch, readings, leftOut);
    const db = this.db;
    if (!db) throw new ArchiveUnavailableError("SQLite archive is not open.");
    db.exec("BEGIN IMMEDIATE");
    try {
      const inserted = this.stmt(
        `INSERT INTO so_batches (root, tx_hash, block_number, gas_used, committed_at, size)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (root) DO NOTHING`,
      ).run(batch.root, batch.txHash, batch.blockNumber, batch.gasUsed, batch.committedAt, readings.length);
      // Stored already (a second write after a crash, or another bridge): its readings are too.
      if (inserted.changes > 0) {
        const insert = this.stmt(
          `INSERT INTO so_readings (${READING_COLUMNS}, position)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        );
        for (const [i, r] of readings.entries())
          insert.run(
            r.id,
            batch.root,
            deviceOfId(r.id),
            r.feedId,
            Number(r.timestamp),
            r.sequence,
            r.value,
            r.signature,
            r.curve,
            r.receivedAt,
            i,
          );
      }
      // Whether or not the batch row was new (an archive written before left-out readings were
      // kept): each left-out reading once, by id.
      const left = this.stmt(
        `INSERT INTO so_left_out (${READING_COLUMNS}, position, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      );
      for (const [i, r] of leftOut.entries())
        left.run(
          r.id,
          batch.root,
          deviceOfId(r.id),
          r.feedId,
          Number(r.timestamp),
          r.sequence,
          r.value,
          r.signature,
          r.curve,
          r.receivedAt,
          i,
          batch.leftOut?.[i]?.reason ?? "left_out",
        );
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw new ArchiveUnavailableError(`SQLite archive: batch ${batch.root} not written.`, {
        cause: err,
        details: (err as Error).message,
      });
    }
  }

  async getBatch(root: Hex): Promise<CommittedBatch | null> {
    const b = this.stmt("SELECT * FROM so_batches WHERE root = ?").get(root) as BatchRow | undefined;
    if (!b) return null;
    const ids = this.stmt("SELECT id FROM so_readings WHERE root = ? ORDER BY position")
      .all(root)
      .map((r) => (r as { id: string }).id);
    const leftOut = this.stmt("SELECT id, reason FROM so_left_out WHERE root = ? ORDER BY position")
      .all(root)
      .map((r) => ({ id: (r as { id: string }).id, reason: (r as { reason: string }).reason }));
    return batchOfRow(b, ids, leftOut);
  }

  async getReadings(ids: string[]): Promise<(ArchivedReading | null)[]> {
    const one = this.stmt(`SELECT ${READING_COLUMNS} FROM so_readings WHERE id = ?`);
    const left = this.stmt(`SELECT ${READING_COLUMNS} FROM so_left_out WHERE id = ?`);
    return ids.map((id) => {
      const row = (one.get(id) ?? left.get(id)) as ReadingRow | undefined;
      return row ? readingOfRow(row) : null;
    });
  }

  async readingsOfDevice(deviceName: string, q: ReadingPageQuery): Promise<ReadingPage> {
    return this.page("device", deviceName, q);
  }

  async readingsOfFeed(feedId: Hex, q: ReadingPageQuery): Promise<ReadingPage> {
    return this.page("feed_id", feedId.toLowerCase(), q);
  }

  private page(column: "device" | "feed_id", key: string, q: ReadingPageQuery): ReadingPage {
    const limit = Math.min(Math.max(1, q.limit), MAX_PAGE_LIMIT);
    const after = q.cursor ? decodeCursor(q.cursor) : { timestamp: -1, id: "" };
    const rows = this.stmt(
      `SELECT ${READING_COLUMNS} FROM so_readings
       WHERE ${column} = ? AND ts >= ? AND ts <= ? AND (ts > ? OR (ts = ? AND id > ?))
       ORDER BY ts, id LIMIT ?`,
    ).all(
      key,
      q.from ?? 0,
      q.to ?? Number.MAX_SAFE_INTEGER,
      after.timestamp,
      after.timestamp,
      after.id,
      limit + 1,
    ) as ReadingRow[];
    const readings = rows.slice(0, limit).map(readingOfRow);
    const last = readings.at(-1);
    return { readings, next: rows.length > limit && last ? encodeCursor(last) : null };
  }

  async prune(committedBefore: number): Promise<{ batches: number; readings: number }> {
    const db = this.db;
    if (!db) throw new ArchiveUnavailableError("SQLite archive is not open.");
    db.exec("BEGIN IMMEDIATE");
    try {
      const readings = this.stmt(
        "DELETE FROM so_readings WHERE root IN (SELECT root FROM so_batches WHERE committed_at < ?)",
      ).run(committedBefore).changes;
      this.stmt(
        "DELETE FROM so_left_out WHERE root IN (SELECT root FROM so_batches WHERE committed_at < ?)",
      ).run(committedBefore);
      const batches = this.stmt("DELETE FROM so_batches WHERE committed_at < ?").run(committedBefore).changes;
      db.exec("COMMIT");
      return { batches: Number(batches), readings: Number(readings) };
    } catch (err) {
      db.exec("ROLLBACK");
      throw new ArchiveUnavailableError("SQLite archive: retention not applied.", { cause: err });
    }
  }

  async stats(): Promise<{ batches: number; readings: number; bytes: number | null }> {
    const count = (t: string) =>
      Number((this.stmt(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n);
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    this.db?.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return {
      batches: count("so_batches"),
      readings: count("so_readings"),
      bytes: this.path === ":memory:" ? null : size(this.path) + size(`${this.path}-wal`),
    };
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.db?.close();
    this.db = null;
  }
}
