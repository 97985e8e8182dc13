import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OutboxError, OutboxFullError } from "./errors.js";
import { OUTBOX_ROW_OVERHEAD, Outbox } from "./outbox.js";

const dir = mkdtempSync(join(tmpdir(), "so-outbox-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `outbox-${++n}.db`);
const payloadOf = (seq: bigint) => `{"sequence":"${seq}","pad":"${"x".repeat(300)}"}`;

/** Take `count` sequences and add their readings in one turn (one transaction). */
async function fill(outbox: Outbox, count: number): Promise<bigint[]> {
  const seqs = Array.from({ length: count }, () => outbox.sequences.take());
  await Promise.all(
    seqs.map((sequence) => outbox.add({ sequence, payload: payloadOf(sequence) }, 1_700_000_000n)),
  );
  return seqs;
}

/** The outbox child (test/e2e/agent-outbox.child.ts) writing readings until it is stopped. */
function startWriter(
  path: string,
  block: number,
): { proc: ChildProcess; stored: bigint[]; opened: bigint[] } {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "test/e2e/agent-outbox.child.ts", path, String(block)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const stored: bigint[] = [];
  const opened: bigint[] = [];
  let buf = "";
  proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    for (const l of lines) {
      const [word, seq] = l.split(" ") as [string, string];
      if (word === "stored") stored.push(BigInt(seq));
      if (word === "open") opened.push(BigInt(seq));
    }
  });
  return { proc, stored, opened };
}

const until = async (cond: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};
const maxOf = (xs: bigint[]) => {
  let m = 0n;
  for (const x of xs) if (x > m) m = x;
  return m;
};
const exited = (p: ChildProcess) =>
  new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)));

describe("the agent's outbox (SQLite, WAL, synchronous FULL)", () => {
  it("keeps every committed reading across a reopen and lets go only of what it is told", async () => {
    const path = fresh();
    let outbox = new Outbox({ path });
    const seqs = await fill(outbox, 50);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    outbox.close();

    outbox = new Outbox({ path });
    expect(outbox.depth).toBe(50);
    expect(outbox.carriedUpTo).toBe(50n);
    expect(outbox.bytes).toBe(seqs.reduce((s, q) => s + payloadOf(q).length + OUTBOX_ROW_OVERHEAD, 0));
    const page = outbox.page(0n, 100);
    expect(page.map((e) => e.sequence)).toEqual(seqs);
    expect(page[7]?.payload).toBe(payloadOf(8n));
    for (const seq of seqs.slice(0, 10)) outbox.remove(seq);
    outbox.hold(20n, "replay_unqueued");
    outbox.close();

    outbox = new Outbox({ path });
    expect(outbox.depth).toBe(40);
    expect(outbox.held).toBe(1);
    expect(outbox.has(20n)).toBe(true);
    expect(outbox.has(3n)).toBe(false);
    // Paged oldest first, held readings left out, from any point.
    expect(outbox.page(0n, 5).map((e) => e.sequence)).toEqual([11n, 12n, 13n, 14n, 15n]);
    expect(outbox.page(18n, 3).map((e) => e.sequence)).toEqual([19n, 21n, 22n]);
    // After clean closes the unused rest of the block is given back: no gap.
    expect(outbox.sequences.take()).toBe(51n);
    outbox.close();
  });

  it("never hands out a sequence twice across kill -9 of the writing process", async () => {
    const path = fresh();
    const all: bigint[] = [];
    for (let run = 0; run < 3; run++) {
      const w = startWriter(path, 100);
      await until(() => w.stored.length >= 250);
      w.proc.kill("SIGKILL");
      await exited(w.proc);
      // Each run starts above everything the runs before it stored.
      const highestBefore = maxOf(all);
      expect(w.stored.every((s) => s > highestBefore)).toBe(true);
      all.push(...w.stored);
    }
    expect(new Set(all).size).toBe(all.length);
    const outbox = new Outbox({ path, sequenceBlock: 100 });
    // Every reading add() confirmed before the kills is there.
    expect(all.filter((s) => !outbox.has(s))).toEqual([]);
    const highest = maxOf(all);
    const next = outbox.sequences.take();
    expect(next).toBeGreaterThan(highest);
    expect(next - highest).toBeLessThanOrEqual(100n + 8n); // skips at most a block (and a batch)
    outbox.close();
  }, 120_000);

  it("after a power cut (files frozen at the kill, a torn write at the WAL's end) loses nothing confirmed", async () => {
    const path = fresh();
    const w = startWriter(path, 100);
    await until(() => w.stored.length >= 400);
    // Freeze the writer mid-stream, read everything it confirmed, then take the files as they are.
    w.proc.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 200));
    const confirmed = [...w.stored];
    const cut = join(dir, "power-cut.db");
    copyFileSync(path, cut);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${cut}-wal`);
    w.proc.kill("SIGKILL");
    await exited(w.proc);
    // The write the power cut interrupted: a partial frame of garbage after the last one.
    appendFileSync(`${cut}-wal`, Buffer.alloc(1500, 0xa5));

    const outbox = new Outbox({ path: cut, sequenceBlock: 100 });
    expect(confirmed.filter((s) => !outbox.has(s))).toEqual([]);
    for (const e of outbox.page(0n, 1_000)) expect(e.payload).toBe(payloadOf(e.sequence));
    const highest = maxOf(confirmed);
    expect(outbox.sequences.take()).toBeGreaterThan(highest);
    outbox.close();
  }, 60_000);

  it("refuses new readings at its quota with OutboxFullError and loses none it stored", async () => {
    const path = fresh();
    const per = payloadOf(1n).length + OUTBOX_ROW_OVERHEAD;
    let outbox = new Outbox({ path, quotaBytes: per * 10 + 5 });
    const stored = await fill(outbox, 10);
    const seq = outbox.sequences.take();
    await expect(outbox.add({ sequence: seq, payload: payloadOf(seq) }, 0n)).rejects.toBeInstanceOf(
      OutboxFullError,
    );
    expect(outbox.wouldRefuse(payloadOf(1n).length)).toBe(true);
    // Several at once: those that fit are stored, the others refused; still nothing dropped.
    const burst = await Promise.allSettled(
      [0, 1, 2].map(() => {
        const s = outbox.sequences.take();
        return outbox.add({ sequence: s, payload: payloadOf(s) }, 0n);
      }),
    );
    expect(burst.every((r) => r.status === "rejected" && r.reason instanceof OutboxFullError)).toBe(true);
    outbox.close();

    outbox = new Outbox({ path, quotaBytes: per * 10 + 5 });
    expect(outbox.depth).toBe(10);
    expect(outbox.page(0n, 100).map((e) => e.sequence)).toEqual(stored);
    // Room again once the bridge has one.
    outbox.remove(stored[0] as bigint);
    outbox.flush();
    const next = outbox.sequences.take();
    await outbox.add({ sequence: next, payload: payloadOf(next) }, 0n);
    expect(outbox.depth).toBe(10);
    outbox.close();
  });

  it("starts above an old agent's sequence file, and refuses an unreadable one rather than start at 0", () => {
    const legacy = join(dir, "old.sequence");
    writeFileSync(legacy, "41");
    let outbox = new Outbox({ path: fresh(), legacySequenceFile: legacy });
    expect(outbox.sequences.take()).toBe(42n);
    outbox.close();

    writeFileSync(legacy, ""); // what a power cut left of it
    expect(() => new Outbox({ path: fresh(), legacySequenceFile: legacy })).toThrow(OutboxError);
    outbox = new Outbox({ path: fresh(), legacySequenceFile: legacy, startSequenceAbove: 5_000n });
    expect(outbox.sequences.take()).toBe(5_001n);
    outbox.close();
  });
});

describe("the outbox's memory and WAL on disk", () => {
  it("bounds SQLite's page cache and maps no memory", () => {
    const outbox = new Outbox({ path: fresh() });
    const db = (outbox as unknown as { db: import("node:sqlite").DatabaseSync }).db;
    expect(db.prepare("PRAGMA cache_size").get()).toEqual({ cache_size: -1024 });
    expect(db.prepare("PRAGMA mmap_size").get()).toEqual({ mmap_size: 0 });
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(db.prepare("PRAGMA synchronous").get()).toEqual({ synchronous: 2 }); // FULL
    outbox.close();
  });

  it("shrinks the WAL back to 4 MiB once a reader that held it open lets go", async () => {
    const path = fresh();
    const outbox = new Outbox({ path });
    const sqlite = process.getBuiltinModule("node:sqlite") as typeof import("node:sqlite");
    const reader = new sqlite.DatabaseSync(path);
    reader.exec("BEGIN");
    reader.prepare("SELECT COUNT(*) FROM readings").get(); // a read snapshot: no checkpoint past it
    for (let i = 0; i < 80; i++) await fill(outbox, 200);
    const walOf = () => statSync(`${path}-wal`).size;
    expect(walOf()).toBeGreaterThan(6 * 1024 * 1024);
    reader.exec("COMMIT");
    reader.close();
    for (let i = 0; i < 10; i++) await fill(outbox, 200);
    expect(walOf()).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(outbox.depth).toBe(90 * 200);
    outbox.close();
  });
});
