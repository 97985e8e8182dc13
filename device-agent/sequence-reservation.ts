import { existsSync, readFileSync } from "node:fs";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { OutboxError, SequenceExhaustedError } from "./errors.js";

/** The largest sequence the outbox stores (SQLite integers are signed 64-bit). */
export const MAX_OUTBOX_SEQUENCE = (1n << 63n) - 1n;

export type SequenceReservationParameters = {
  /** The outbox's database: the reservation lives in its `meta` table, committed with synchronous FULL. */
  db: DatabaseSync;
  /** Sequences reserved per durable write (default 1,000): a crash skips at most this many. */
  blockSize?: number;
  /**
   * The `.sequence` file of an agent before the outbox (the last sequence it used, rewritten
   * without fsync): sequences start above it. An unreadable one is refused, not read as 0.
   */
  legacySequenceFile?: string;
  /** Sequences start above this one at least (an operator's override after a lost counter). */
  startAbove?: bigint;
};

/**
 * Sequence numbers handed out from blocks reserved durably: before the first number of a block is
 * used, the block's end is committed (fsync'd) to the outbox's database. After a crash the agent
 * starts above the last block reserved, so numbers may be skipped but none is ever used twice.
 */
export class SequenceReservation {
  private next: bigint;
  private reservedTo: bigint;
  private readonly blockSize: bigint;
  private readonly write: StatementSync;

  constructor(p: SequenceReservationParameters) {
    this.blockSize = BigInt(p.blockSize ?? 1_000);
    const { db } = p;
    db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT");
    const read = db.prepare("SELECT value FROM meta WHERE key = 'sequence_reserved_to'");
    read.setReadBigInts(true);
    const row = read.get() as { value: bigint } | undefined;
    const maxStored = db.prepare("SELECT MAX(sequence) AS m FROM readings");
    maxStored.setReadBigInts(true);
    const stored = ((maxStored.get() as { m: bigint | null }).m ?? 0n) as bigint;
    let floor = row?.value ?? 0n;
    if (stored > floor) floor = stored;
    if (p.startAbove !== undefined && p.startAbove > floor) floor = p.startAbove;
    if (p.legacySequenceFile && existsSync(p.legacySequenceFile)) {
      const legacy = legacySequenceOf(p.legacySequenceFile, row !== undefined || p.startAbove !== undefined);
      if (legacy !== null && legacy > floor) floor = legacy;
    }
    this.write = db.prepare(
      "INSERT INTO meta (key, value) VALUES ('sequence_reserved_to', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.next = floor + 1n;
    this.reservedTo = floor;
  }

  /** The next sequence; reserves (and fsyncs) a new block first when the current one is used up. */
  take(): bigint {
    if (this.next > MAX_OUTBOX_SEQUENCE)
      throw new SequenceExhaustedError("The device's sequence space is used up.");
    if (this.next > this.reservedTo) {
      let end = this.next + this.blockSize - 1n;
      if (end > MAX_OUTBOX_SEQUENCE) end = MAX_OUTBOX_SEQUENCE;
      this.write.run(end); // its own transaction, synchronous FULL: on disk before the number is used
      this.reservedTo = end;
    }
    const s = this.next;
    this.next += 1n;
    return s;
  }

  /**
   * On a clean close: give back the rest of the block (reserve up to the last number used), so the
   * next run continues without a gap. Only numbers never used are given back.
   */
  release(): void {
    const last = this.next - 1n;
    if (last < this.reservedTo) {
      this.write.run(last);
      this.reservedTo = last;
    }
  }

  /** The highest sequence reserved on disk (numbers above the last one used up to it are skipped after a crash). */
  get reservedUpTo(): bigint {
    return this.reservedTo;
  }
}

/**
 * The last sequence in an old agent's `.sequence` file. Unreadable (empty after a power cut, or
 * not a number): null when the outbox already holds a reservation (which is above it) or the
 * operator set a start, else an error, since starting at 0 would reuse sequences.
 */
function legacySequenceOf(file: string, reserved: boolean): bigint | null {
  const text = readFileSync(file, "utf8").trim();
  if (/^[0-9]{1,20}$/.test(text)) return BigInt(text);
  if (reserved) return null;
  throw new OutboxError(
    "The old sequence file is unreadable: the agent cannot tell which sequences it used.",
    {
      details: `${file} holds no number; set "startSequenceAbove" in the agent config to the device's last sequence (the bridge's /devices shows it)`,
    },
  );
}
