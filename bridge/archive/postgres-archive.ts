import pg from "pg";
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

export type PostgresArchiveParameters = {
  /** A postgres:// URL, or the fields of pg's PoolConfig (host, port, user, database, password). */
  connection: string | pg.PoolConfig;
  /** Pool size (default 4). */
  max?: number;
  /** Connection errors of idle clients (the pool reconnects by itself). */
  onError?: (err: Error) => void;
};

/** Any key for pg_advisory_xact_lock: serialises the schema creation of bridges starting together. */
const SCHEMA_LOCK = 0x5e4501;

/**
 * The production archive: a PostgreSQL server several bridges share. Every write is idempotent
 * (INSERT ... ON CONFLICT DO NOTHING keyed by root and reading id, in one transaction per batch),
 * so two bridges, or one bridge writing a batch again after a crash, store each batch once.
 */
export class PostgresArchive implements Archive {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(p: PostgresArchiveParameters) {
    const base: pg.PoolConfig =
      typeof p.connection === "string" ? { connectionString: p.connection } : { ...p.connection };
    this.pool = new pg.Pool({
      ...base,
      max: p.max ?? 4,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // A server that stops answering must not hold a query (and the archiver) for ever.
      query_timeout: 30_000,
    });
    this.pool.on("error", (err) => p.onError?.(err));
  }

  private async run<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new ArchiveUnavailableError(`PostgreSQL archive unreachable (${what}).`, {
        cause: err,
        details: (err as Error).message,
      });
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      broken = err as Error;
      throw new ArchiveUnavailableError(`PostgreSQL archive: ${what} failed.`, {
        cause: err,
        details: (err as Error).message,
      });
    } finally {
      // A client whose query failed may hold a broken connection: do not give it back to the pool.
      client.release(broken);
    }
  }

  async open(): Promise<void> {
    await this.run("schema", async (c) => {
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
      for (const s of SCHEMA) await c.query(s);
      await c.query("COMMIT");
    });
  }

  async ping(): Promise<void> {
    await this.run("ping", (c) => c.query("SELECT 1"));
  }

  async writeBatch(
    batch: CommittedBatch,
    readings: StoredReading[],
    leftOut: StoredReading[] = [],
  ): Promise<void> {
    checkBatch(batch, readings, leftOut);
    await this.run(`write of batch ${batch.root}`, async (c) => {
      await c.query("BEGIN");
      try {
        const inserted = await c.query(
          `INSERT INTO so_batches (root, tx_hash, block_number, gas_used, committed_at, size)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (root) DO NOTHING`,
          [batch.root, batch.txHash, batch.blockNumber, batch.gasUsed, batch.committedAt, readings.length],
        );
        // Stored already (by another bridge, or before a crash): its readings are too.
        if (inserted.rowCount) {
          // One statement for the whole batch: arrays of columns, unnested.
          await c.query(
            `INSERT INTO so_readings (${READING_COLUMNS}, position)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                  $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::int[])
             ON CONFLICT (id) DO NOTHING`,
            [
              readings.map((r) => r.id),
              readings.map(() => batch.root),
              readings.map((r) => deviceOfId(r.id)),
              readings.map((r) => r.feedId),
              readings.map((r) => r.timestamp),
              readings.map((r) => r.sequence),
              readings.map((r) => r.value),
              readings.map((r) => r.signature),
              readings.map((r) => r.curve),
              readings.map((r) => r.receivedAt),
              readings.map((_, i) => i),
            ],
          );
        }
        // Whether or not the batch row was new (an archive written before left-out readings were
        // kept): each left-out reading once, by id.
        if (leftOut.length > 0)
          await c.query(
            `INSERT INTO so_left_out (${READING_COLUMNS}, position, reason)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                                  $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::int[],
                                  $12::text[])
             ON CONFLICT (id) DO NOTHING`,
            [
              leftOut.map((r) => r.id),
              leftOut.map(() => batch.root),
              leftOut.map((r) => deviceOfId(r.id)),
              leftOut.map((r) => r.feedId),
              leftOut.map((r) => r.timestamp),
              leftOut.map((r) => r.sequence),
              leftOut.map((r) => r.value),
              leftOut.map((r) => r.signature),
              leftOut.map((r) => r.curve),
              leftOut.map((r) => r.receivedAt),
              leftOut.map((_, i) => i),
              leftOut.map((_, i) => batch.leftOut?.[i]?.reason ?? "left_out"),
            ],
          );
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => {});
        throw err;
      }
    });
  }

  async getBatch(root: Hex): Promise<CommittedBatch | null> {
    return this.run("batch lookup", async (c) => {
      const b = await c.query<BatchRow>("SELECT * FROM so_batches WHERE root = $1", [root]);
      const row = b.rows[0];
      if (!row) return null;
      const ids = await c.query<{ id: string }>(
        "SELECT id FROM so_readings WHERE root = $1 ORDER BY position",
        [root],
      );
      const left = await c.query<{ id: string; reason: string }>(
        "SELECT id, reason FROM so_left_out WHERE root = $1 ORDER BY position",
        [root],
      );
      return batchOfRow(
        row,
        ids.rows.map((r) => r.id),
        left.rows.map((r) => ({ id: r.id, reason: r.reason })),
      );
    });
  }

  async getReadings(ids: string[]): Promise<(ArchivedReading | null)[]> {
    if (ids.length === 0) return [];
    return this.run("reading lookup", async (c) => {
      const res = await c.query<ReadingRow>(
        `SELECT ${READING_COLUMNS} FROM so_readings WHERE id = ANY($1::text[])
         UNION ALL SELECT ${READING_COLUMNS} FROM so_left_out WHERE id = ANY($1::text[])`,
        [ids],
      );
      const byId = new Map(res.rows.map((r) => [r.id, readingOfRow(r)]));
      return ids.map((id) => byId.get(id) ?? null);
    });
  }

  async readingsOfDevice(deviceName: string, q: ReadingPageQuery): Promise<ReadingPage> {
    return this.page("device", deviceName, q);
  }

  async readingsOfFeed(feedId: Hex, q: ReadingPageQuery): Promise<ReadingPage> {
    return this.page("feed_id", feedId.toLowerCase(), q);
  }

  private async page(column: "device" | "feed_id", key: string, q: ReadingPageQuery): Promise<ReadingPage> {
    const limit = Math.min(Math.max(1, q.limit), MAX_PAGE_LIMIT);
    const after = q.cursor ? decodeCursor(q.cursor) : { timestamp: -1, id: "" };
    const rows = await this.run("reading page", (c) =>
      c.query<ReadingRow>(
        `SELECT ${READING_COLUMNS} FROM so_readings
         WHERE ${column} = $1 AND ts >= $2 AND ts <= $3 AND (ts, id) > ($4, $5)
         ORDER BY ts, id LIMIT $6`,
        [key, q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, after.timestamp, after.id, limit + 1],
      ),
    );
    const readings = rows.rows.slice(0, limit).map(readingOfRow);
    const last = readings.at(-1);
    return { readings, next: rows.rows.length > limit && last ? encodeCursor(last) : null };
  }

  async prune(committedBefore: number): Promise<{ batches: number; readings: number }> {
    return this.run("retention", async (c) => {
      await c.query("BEGIN");
      try {
        const r = await c.query(
          "DELETE FROM so_readings WHERE root IN (SELECT root FROM so_batches WHERE committed_at < $1)",
          [committedBefore],
        );
        await c.query(
          "DELETE FROM so_left_out WHERE root IN (SELECT root FROM so_batches WHERE committed_at < $1)",
          [committedBefore],
        );
        const b = await c.query("DELETE FROM so_batches WHERE committed_at < $1", [committedBefore]);
        await c.query("COMMIT");
        return { batches: b.rowCount ?? 0, readings: r.rowCount ?? 0 };
      } catch (err) {
        await c.query("ROLLBACK").catch(() => {});
        throw err;
      }
    });
  }

  async stats(): Promise<{ batches: number; readings: number; bytes: number | null }> {
    return this.run("stats", async (c) => {
      const r = await c.query<{ batches: string; readings: string; bytes: string }>(
        `SELECT (SELECT count(*) FROM so_batches) AS batches, (SELECT count(*) FROM so_readings) AS readings,
                pg_total_relation_size('so_batches') + pg_total_relation_size('so_readings') AS bytes`,
      );
      const row = r.rows[0] as { batches: string; readings: string; bytes: string };
      return { batches: Number(row.batches), readings: Number(row.readings), bytes: Number(row.bytes) };
    });
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
