import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildReadingTree, readingProof } from "../../protocol/index.js";
import { batchOf, deviceName as device, FEED_A, FEED_B, readingsOf } from "../../testkit/archive-readings.js";
import { type PostgresService, startPostgres } from "../../testkit/postgres.js";
import { toReading } from "../checks.js";
import type { CommittedBatch, StoredReading } from "../store/types.js";
import { ArchiveBatchInvalidError, ArchiveCursorInvalidError, ArchiveUnavailableError } from "./errors.js";
import { PostgresArchive } from "./postgres-archive.js";
import { SCHEMA } from "./schema.js";
import { SqliteArchive } from "./sqlite-archive.js";
import type { Archive } from "./types.js";

let pgServer: PostgresService;
const dirs: string[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pgServer?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const kinds: [string, () => Archive][] = [
  [
    "sqlite",
    () => {
      const d = mkdtempSync(join(tmpdir(), "so-archive-"));
      dirs.push(d);
      return new SqliteArchive(join(d, "archive.sqlite"));
    },
  ],
  ["postgres", () => new PostgresArchive({ connection: pgServer.url })],
];

describe.each(kinds)("%s archive", (kind, make) => {
  let archive: Archive;
  beforeAll(async () => {
    archive = make();
    // PostgreSQL may still be starting up: the bridge retries open() too.
    for (let i = 0; ; i++) {
      try {
        await archive.open();
        break;
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // A second open (another bridge, a restart) finds the schema and changes nothing.
    await archive.open();
  }, 30_000);
  afterAll(() => archive?.close());

  it("stores a batch once, however often it is written, and serves a proof of each reading from it", async () => {
    const readings = readingsOf(1, 1, 100);
    const batch = batchOf(readings);
    await archive.writeBatch(batch, readings);
    await archive.writeBatch(batch, readings);
    await Promise.all([archive.writeBatch(batch, readings), archive.writeBatch(batch, readings)]);
    const stored = await archive.getBatch(batch.root);
    expect(stored).toEqual(batch);
    const got = await archive.getReadings([readings[7]?.id as string, "nope:1"]);
    expect(got[1]).toBeNull();
    expect(got[0]).toEqual({ ...readings[7], root: batch.root });
    // The tree rebuilt from the archived readings in leaf order is the committed one.
    const back = (await archive.getReadings(stored?.ids ?? [])) as StoredReading[];
    const tree = buildReadingTree(back.map(toReading));
    expect(tree.root).toBe(batch.root);
    expect(readingProof(tree, 7)).toEqual(readingProof(buildReadingTree(readings.map(toReading)), 7));
    expect((await archive.stats()).readings).toBe(100);
  });

  it("refuses a batch whose readings do not match its ids, writing nothing", async () => {
    const readings = readingsOf(2, 1, 3);
    const batch = batchOf(readings);
    await expect(archive.writeBatch(batch, readings.slice(1))).rejects.toBeInstanceOf(
      ArchiveBatchInvalidError,
    );
    expect(await archive.getBatch(batch.root)).toBeNull();
  });

  it("pages a device's and a feed's readings by signed time with a stable cursor", async () => {
    const readings = readingsOf(3, 1, 250, 1_800_000_000);
    // Two batches, written out of order.
    await archive.writeBatch(batchOf(readings.slice(125)), readings.slice(125));
    await archive.writeBatch(batchOf(readings.slice(0, 125)), readings.slice(0, 125));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await archive.readingsOfDevice(device(3), {
        from: 1_800_000_010,
        to: 1_800_000_200,
        limit: 40,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...page.readings.map((r) => r.id));
      if (!page.next) break;
      cursor = page.next;
    }
    expect(seen).toEqual(readings.slice(9, 200).map((r) => r.id));
    const feed = await archive.readingsOfFeed(FEED_B, {
      limit: 5000,
      from: 1_800_000_001,
      to: 1_800_000_020,
    });
    expect(feed.readings.map((r) => r.id)).toEqual(
      readings.filter((r, i) => i < 20 && r.feedId === FEED_B).map((r) => r.id),
    );
    expect(feed.next).toBeNull();
    await expect(archive.readingsOfFeed(FEED_A, { limit: 5, cursor: "bogus" })).rejects.toBeInstanceOf(
      ArchiveCursorInvalidError,
    );
  });

  it("drops batches committed before the retention horizon with their readings, and keeps the rest", async () => {
    const old = readingsOf(4, 1, 10);
    const recent = readingsOf(4, 11, 10);
    const oldBatch = batchOf(old, Date.now() - 10 * 86_400_000);
    const recentBatch = batchOf(recent);
    await archive.writeBatch(oldBatch, old);
    await archive.writeBatch(recentBatch, recent);
    const dropped = await archive.prune(Date.now() - 7 * 86_400_000);
    expect(dropped).toEqual({ batches: 1, readings: 10 });
    expect(await archive.getBatch(oldBatch.root)).toBeNull();
    expect((await archive.getReadings([old[0]?.id as string]))[0]).toBeNull();
    expect((await archive.getBatch(recentBatch.root))?.ids).toEqual(recentBatch.ids);
  });

  it("keeps the readings a cut left out with their reasons, once, and a cut that committed none, until retention drops them", async () => {
    const readings = readingsOf(7, 1, 6);
    const committed = readings.slice(0, 4);
    const left = readings.slice(4);
    const batch: CommittedBatch = {
      ...batchOf(committed),
      leftOut: left.map((r, i) => ({ id: r.id, reason: i ? "rotated_key" : "revoked" })),
    };
    await archive.writeBatch(batch, committed, left);
    await archive.writeBatch(batch, committed, left);
    await Promise.all([
      archive.writeBatch(batch, committed, left),
      archive.writeBatch(batch, committed, left),
    ]);
    expect(await archive.getBatch(batch.root)).toEqual(batch);
    expect(await archive.getReadings([left[1]?.id as string])).toEqual([{ ...left[1], root: batch.root }]);
    // The paged lookups serve committed readings only.
    const page = await archive.readingsOfDevice(device(7), { limit: 100 });
    expect(page.readings.map((r) => r.id)).toEqual(committed.map((r) => r.id));
    // Left-out readings that do not match the batch's record are never written.
    const other = readingsOf(7, 11, 3);
    const mismatched: CommittedBatch = {
      ...batchOf(other.slice(0, 2)),
      leftOut: [{ id: "x:1", reason: "revoked" }],
    };
    await expect(archive.writeBatch(mismatched, other.slice(0, 2), other.slice(2))).rejects.toBeInstanceOf(
      ArchiveBatchInvalidError,
    );
    expect(await archive.getBatch(mismatched.root)).toBeNull();

    // A cut whose readings were all left out: no committed reading, never on-chain.
    const none = readingsOf(8, 1, 2);
    const cut: CommittedBatch = {
      root: `0x${"ab".repeat(32)}`,
      ids: [],
      leftOut: none.map((r) => ({ id: r.id, reason: "revoked" })),
      txHash: `0x${"0".repeat(64)}`,
      blockNumber: "0",
      gasUsed: "0",
      committedAt: Date.now() - 10 * 86_400_000,
    };
    await archive.writeBatch(cut, [], none);
    await archive.writeBatch(cut, [], none);
    expect(await archive.getBatch(cut.root)).toEqual(cut);
    expect((await archive.getReadings([none[0]?.id as string]))[0]?.root).toBe(cut.root);
    await archive.prune(Date.now() - 7 * 86_400_000);
    expect(await archive.getBatch(cut.root)).toBeNull();
    expect(await archive.getReadings(none.map((r) => r.id))).toEqual([null, null]);
    expect(await archive.getBatch(batch.root)).toEqual(batch);
  });

  if (kind === "sqlite")
    it("adds the left-out table to an archive written before it existed", async () => {
      const d = mkdtempSync(join(tmpdir(), "so-archive-old-"));
      dirs.push(d);
      const path = join(d, "archive.sqlite");
      const before = new DatabaseSync(path);
      for (const s of SCHEMA.filter((s) => !s.includes("so_left_out"))) before.exec(s);
      before.close();
      const upgraded = new SqliteArchive(path);
      await upgraded.open();
      try {
        const readings = readingsOf(9, 1, 3);
        const batch: CommittedBatch = {
          ...batchOf(readings.slice(0, 2)),
          leftOut: [{ id: readings[2]?.id as string, reason: "revoked" }],
        };
        await upgraded.writeBatch(batch, readings.slice(0, 2), readings.slice(2));
        expect(await upgraded.getBatch(batch.root)).toEqual(batch);
      } finally {
        await upgraded.close();
      }
    });

  if (kind === "postgres")
    it("stores a batch once when two bridges (two pools) write it at the same time", async () => {
      const other = make();
      await other.open();
      try {
        const readings = readingsOf(6, 1, 500);
        const batch = batchOf(readings);
        await Promise.all([archive.writeBatch(batch, readings), other.writeBatch(batch, readings)]);
        expect((await other.getBatch(batch.root))?.ids).toEqual(batch.ids);
        const page = await archive.readingsOfDevice(device(6), { limit: 1000 });
        expect(page.readings.length).toBe(500);
      } finally {
        await other.close();
      }
    });

  if (kind === "postgres")
    it("answers ArchiveUnavailableError while PostgreSQL is down, and works again when it is back", async () => {
      const readings = readingsOf(5, 1, 10);
      const batch = batchOf(readings);
      await pgServer.restart({ kill: true }).then(() => undefined);
      // Killed and back: the pool's old connections are broken; one failed call drops them.
      for (let i = 0; ; i++) {
        try {
          await archive.writeBatch(batch, readings);
          break;
        } catch (err) {
          expect(err).toBeInstanceOf(ArchiveUnavailableError);
          if (i > 100) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect((await archive.getBatch(batch.root))?.ids).toEqual(batch.ids);
    }, 60_000);
});
