import { statSync } from "node:fs";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { OutboxError, OutboxFullError } from "./errors.js";
import { SequenceReservation } from "./sequence-reservation.js";

/** Bytes counted per stored reading beyond its payload (row, index and page overhead, measured roughly). */
export const OUTBOX_ROW_OVERHEAD = 64;
/**
 * SQLite's memory, bounded for a small gateway (the backlog stays on disk; the publisher reads it
 * in pages of 128, oldest first): a 1 MiB page cache, no memory-mapped I/O, the WAL checkpointed
 * every 1,000 pages (4 MiB) and truncated back to 4 MiB after a checkpoint. None of them weakens
 * durability: WAL and synchronous FULL stay.
 */
const OUTBOX_PRAGMAS = [
  "PRAGMA cache_size = -1024",
  "PRAGMA mmap_size = 0",
  "PRAGMA wal_autocheckpoint = 1000",
  `PRAGMA journal_size_limit = ${4 * 1024 * 1024}`,
];
/** A WAL above this size after a commit is checkpointed and truncated at once (TRUNCATE). */
export const OUTBOX_WAL_LIMIT_BYTES = 16 * 1024 * 1024;
/** Commits between two looks at the WAL's size. */
const WAL_CHECK_EVERY = 64;

/** Default quota: 256 MiB, about 650,000 readings. */
export const DEFAULT_OUTBOX_QUOTA_BYTES = 256 * 1024 * 1024;

export type OutboxParameters = {
  /** The SQLite file (created when missing); ":memory:" for an outbox that does not survive the process. */
  path: string;
  /** Bytes the stored readings may take (payload + OUTBOX_ROW_OVERHEAD each); beyond, add() refuses. */
  quotaBytes?: number;
  /** Sequences reserved per durable write (SequenceReservation). */
  sequenceBlock?: number;
  /** An old agent's `.sequence` file: sequences start above it. */
  legacySequenceFile?: string;
  /** Sequences start above this one at least. */
  startSequenceAbove?: bigint;
};

/** A signed reading waiting in the outbox for the bridge's `queued`. */
export type OutboxEntry = { sequence: bigint; payload: string };

/** Why a reading is held (kept, not sent on its own): an operator looks at it. */
export type HoldReason = "outside_window" | "replay_unqueued";

/**
 * node:sqlite, loaded on first use without its one-time ExperimentalWarning (it would be the
 * first line on the stderr of every CLI command, which reads as an error).
 */
function sqlite(): typeof import("node:sqlite") {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return process.getBuiltinModule("node:sqlite") as typeof import("node:sqlite");
  } finally {
    process.emitWarning = emit;
  }
}

type Pending = { entry: OutboxEntry; takenAt: bigint; bytes: number; done: (err?: Error) => void };

/**
 * The agent's store-and-forward outbox: SQLite (node:sqlite) in WAL mode with synchronous FULL.
 * A reading is committed, the WAL fsync'd, before add() resolves and before it is published;
 * readings added in the same turn of the event loop share one transaction (one fsync). It leaves
 * only through remove() (the bridge's `queued`, or a final refusal); removals and holds are
 * committed without their own fsync (the next reading's commit syncs them): one lost in a power
 * cut only means the reading is sent again and answered `replay`.
 */
export class Outbox {
  readonly sequences: SequenceReservation;
  /** The highest sequence stored when the outbox was opened: those may have been sent by an earlier run. */
  readonly carriedUpTo: bigint;
  readonly quotaBytes: number;
  private readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private readonly del: StatementSync;
  private readonly holdStmt: StatementSync;
  private readonly pageStmt: StatementSync;
  private readonly hasStmt: StatementSync;
  private readonly oldestStmt: StatementSync;
  private pending: Pending[] = [];
  private removals = new Map<bigint, true>();
  private holds = new Map<bigint, HoldReason>();
  private flushScheduled = false;
  private closed = false;
  private count: number;
  private usedBytes: number;
  private pendingBytes = 0;
  private heldCount: number;
  private commitsSinceWalCheck = 0;

  constructor(private readonly p: OutboxParameters) {
    this.quotaBytes = p.quotaBytes ?? DEFAULT_OUTBOX_QUOTA_BYTES;
    try {
      this.db = new (sqlite().DatabaseSync)(p.path);
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = FULL");
      for (const pragma of OUTBOX_PRAGMAS) this.db.exec(pragma);
      this.db.exec(
        `CREATE TABLE IF NOT EXISTS readings (
          sequence INTEGER PRIMARY KEY,
          payload TEXT NOT NULL,
          taken_at INTEGER NOT NULL,
          stored_at INTEGER NOT NULL,
          bytes INTEGER NOT NULL,
          held TEXT
        ) STRICT`,
      );
    } catch (err) {
      throw new OutboxError("The outbox cannot be opened.", { details: p.path, cause: err });
    }
    this.sequences = new SequenceReservation({
      db: this.db,
      ...(p.sequenceBlock === undefined ? {} : { blockSize: p.sequenceBlock }),
      ...(p.legacySequenceFile === undefined ? {} : { legacySequenceFile: p.legacySequenceFile }),
      ...(p.startSequenceAbove === undefined ? {} : { startAbove: p.startSequenceAbove }),
    });
    const totals = this.db.prepare(
      "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COUNT(held) AS h, COALESCE(MAX(sequence), 0) AS m FROM readings",
    );
    totals.setReadBigInts(true);
    const t = totals.get() as { n: bigint; b: bigint; h: bigint; m: bigint };
    this.count = Number(t.n);
    this.usedBytes = Number(t.b);
    this.heldCount = Number(t.h);
    this.carriedUpTo = t.m;
    this.insert = this.db.prepare(
      "INSERT INTO readings (sequence, payload, taken_at, stored_at, bytes) VALUES (?, ?, ?, ?, ?)",
    );
    this.del = this.db.prepare("DELETE FROM readings WHERE sequence = ? RETURNING bytes, held");
    this.holdStmt = this.db.prepare("UPDATE readings SET held = ? WHERE sequence = ? AND held IS NULL");
    this.pageStmt = this.db.prepare(
      "SELECT sequence, payload FROM readings WHERE held IS NULL AND sequence > ? ORDER BY sequence LIMIT ?",
    );
    this.pageStmt.setReadBigInts(true);
    this.hasStmt = this.db.prepare("SELECT held FROM readings WHERE sequence = ?");
    this.oldestStmt = this.db.prepare("SELECT stored_at, taken_at FROM readings ORDER BY sequence LIMIT 1");
  }

  /** Readings stored (committed) and not removed, held ones included. */
  get depth(): number {
    return this.count;
  }

  /** Bytes counted against the quota: stored readings, and those being committed. */
  get bytes(): number {
    return this.usedBytes + this.pendingBytes;
  }

  /** Readings held (kept, not resent on their own) for an operator. */
  get held(): number {
    return this.heldCount;
  }

  /** Whether a reading of `payloadBytes` would be refused now. */
  wouldRefuse(payloadBytes = 0): boolean {
    return this.bytes + payloadBytes + OUTBOX_ROW_OVERHEAD > this.quotaBytes;
  }

  /**
   * Store a signed reading; resolves once it is committed and fsync'd. Refuses with
   * OutboxFullError (storing nothing, dropping nothing) when the quota would be exceeded.
   */
  add(entry: OutboxEntry, takenAt: bigint): Promise<void> {
    if (this.closed) return Promise.reject(new OutboxError("The outbox is closed."));
    const bytes = Buffer.byteLength(entry.payload) + OUTBOX_ROW_OVERHEAD;
    if (this.bytes + bytes > this.quotaBytes)
      return Promise.reject(new OutboxFullError({ usedBytes: this.bytes, quotaBytes: this.quotaBytes }));
    this.pendingBytes += bytes;
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, takenAt, bytes, done: (err) => (err ? reject(err) : resolve()) });
      this.scheduleFlush();
    });
  }

  /** Remove a reading (delivered, or refused for good). Committed with the next flush. */
  remove(sequence: bigint): void {
    if (this.closed) return;
    this.removals.set(sequence, true);
    this.scheduleFlush();
  }

  /** Keep a reading but stop offering it to the publisher (page() skips it) until an operator acts. */
  hold(sequence: bigint, reason: HoldReason): void {
    if (this.closed || this.removals.has(sequence)) return;
    this.holds.set(sequence, reason);
    this.scheduleFlush();
  }

  /** Whether a reading is in the outbox (committed, not removed): held readings count. */
  has(sequence: bigint): boolean {
    if (this.closed || this.removals.has(sequence)) return false;
    return this.hasStmt.get(sequence) !== undefined;
  }

  /** Up to `limit` readings above `after`, oldest first, none held or being removed. */
  page(after: bigint, limit: number): OutboxEntry[] {
    if (this.closed) return [];
    const rows = this.pageStmt.all(after, limit) as { sequence: bigint; payload: string }[];
    const out: OutboxEntry[] = [];
    for (const r of rows)
      if (!this.removals.has(r.sequence) && !this.holds.has(r.sequence))
        out.push({ sequence: r.sequence, payload: r.payload });
    return out;
  }

  /** When the oldest reading still here was stored and taken (ms, s), or null when empty. */
  oldest(): { storedAtMs: number; takenAt: number } | null {
    if (this.closed) return null;
    const r = this.oldestStmt.get() as { stored_at: number; taken_at: number } | undefined;
    return r ? { storedAtMs: r.stored_at, takenAt: r.taken_at } : null;
  }

  /** The database file and its WAL on disk, in bytes. */
  fileBytes(): number {
    if (this.p.path === ":memory:") return 0;
    let n = 0;
    for (const f of [this.p.path, `${this.p.path}-wal`])
      try {
        n += statSync(f).size;
      } catch {
        // absent: nothing written yet
      }
    return n;
  }

  /** Commit what is pending (readings, removals, holds) now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      const now = Date.now();
      try {
        this.db.exec("BEGIN");
        for (const b of batch) this.insert.run(b.entry.sequence, b.entry.payload, b.takenAt, now, b.bytes);
        this.db.exec("COMMIT"); // synchronous FULL: the WAL is fsync'd here
      } catch (err) {
        if (this.db.isTransaction) this.db.exec("ROLLBACK");
        for (const b of batch) this.pendingBytes -= b.bytes;
        const e = new OutboxError("The outbox could not store the readings.", { cause: err });
        for (const b of batch) b.done(e);
        this.flushLater();
        return;
      }
      for (const b of batch) {
        this.pendingBytes -= b.bytes;
        this.usedBytes += b.bytes;
        this.count += 1;
        b.done();
      }
    }
    this.flushLater();
    this.boundWal();
  }

  /**
   * The automatic checkpoint (every 1,000 pages) keeps the WAL small while this connection is
   * the only one; should it fall behind (another reader, an operator's sqlite3 shell), the WAL is
   * checkpointed and truncated here once it passes OUTBOX_WAL_LIMIT_BYTES.
   */
  private boundWal(): void {
    if (this.p.path === ":memory:" || ++this.commitsSinceWalCheck < WAL_CHECK_EVERY) return;
    this.commitsSinceWalCheck = 0;
    let size = 0;
    try {
      size = statSync(`${this.p.path}-wal`).size;
    } catch {
      return; // no WAL yet
    }
    if (size <= OUTBOX_WAL_LIMIT_BYTES) return;
    try {
      this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      // busy (another connection reads): the next look tries again; the WAL stays correct
    }
  }

  /** Removals and holds: one transaction without its own fsync (synced by the next reading's commit). */
  private flushLater(): void {
    if (this.removals.size === 0 && this.holds.size === 0) return;
    const removals = this.removals;
    const holds = this.holds;
    this.removals = new Map();
    this.holds = new Map();
    this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      this.db.exec("BEGIN");
      for (const seq of removals.keys()) {
        const r = this.del.get(seq) as { bytes: number; held: string | null } | undefined;
        if (!r) continue;
        this.count -= 1;
        this.usedBytes -= r.bytes;
        if (r.held !== null) this.heldCount -= 1;
      }
      for (const [seq, reason] of holds)
        if (Number(this.holdStmt.run(reason, seq).changes) > 0) this.heldCount += 1;
      this.db.exec("COMMIT");
    } finally {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      this.db.exec("PRAGMA synchronous = FULL");
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Commit what is pending and close the database (a clean stop; a crash loses only uncommitted adds). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.sequences.release();
    this.closed = true;
    this.db.close();
  }
}
