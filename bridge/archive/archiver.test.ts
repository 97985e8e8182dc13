import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReadingRejectedError } from "../../protocol/errors.js";
import { batchOf, deviceName, readingsOf } from "../../testkit/archive-readings.js";
import { freePort } from "../../testkit/ports.js";
import { type PostgresService, startPostgres } from "../../testkit/postgres.js";
import type { Service } from "../../testkit/process.js";
import { startRedis } from "../../testkit/redis.js";
import { RedisStore } from "../store/redis-store.js";
import type { CommittedBatch, StoredReading } from "../store/types.js";
import { ArchivedStore } from "./archived-store.js";
import { type ArchiveStep, startArchiver } from "./archiver.js";
import { PostgresArchive } from "./postgres-archive.js";
import { SqliteArchive } from "./sqlite-archive.js";
import { type Archive, deviceOfId } from "./types.js";

let redis: Service;
let pgServer: PostgresService;
const dirs: string[] = [];
let prefixN = 0;

beforeAll(async () => {
  [redis, pgServer] = await Promise.all([startRedis(), startPostgres()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), pgServer?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Accept readings, cut them into one batch, commit it (as the batcher does) and make it final. */
async function commitFinal(store: RedisStore, readings: StoredReading[]): Promise<CommittedBatch> {
  for (const r of readings) expect(await store.accept(r, r.id.split(":")[0] as string)).toBe("queued");
  const fence = (await store.lease("test", 60_000)) as number;
  const pending = await store.nextBatch(100_000, fence);
  if (!pending) throw new Error("no batch");
  const committed = { ...batchOf(readings), ids: pending.ids };
  await store.completeBatch(pending, committed, fence);
  await store.updateBatch(committed, true);
  return committed;
}

const kinds: [string, () => Promise<Archive>][] = [
  [
    "sqlite",
    async () => {
      const d = mkdtempSync(join(tmpdir(), "so-archiver-"));
      dirs.push(d);
      return new SqliteArchive(join(d, "archive.sqlite"));
    },
  ],
  ["postgres", async () => new PostgresArchive({ connection: pgServer.url })],
];

describe.each(kinds)("archiver with the %s archive and a real Redis", (_kind, make) => {
  it("archives final batches, trims them from Redis after the hot period, and still serves every reading", async () => {
    const prefix = `arch${++prefixN}`;
    const hot = new RedisStore({ url: redis.url, prefix });
    const archive = await make();
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000 });
    const store = new ArchivedStore({ hot, archive });
    try {
      const readings = readingsOf(10, 1, 50);
      const batch = await commitFinal(hot, readings);
      await archiver.runOnce();
      expect(archiver.state.archivedBatches).toBe(1);
      // Gone from Redis...
      expect(await hot.getReadings([readings[0]?.id as string])).toEqual([null]);
      expect(await hot.getBatch(batch.root)).toBeNull();
      expect(await hot.archiveLag()).toEqual({ batches: 0, readings: 0, oldestCommittedAt: null });
      // ...and served from the archive, as Redis served it.
      expect(await store.getReadings([readings[3]?.id as string])).toEqual([readings[3]]);
      expect(await store.rootOf(readings[3]?.id as string)).toBe(batch.root);
      expect(await store.getBatch(batch.root)).toEqual(batch);
      // The replay check of a trimmed reading asks the archive: the same reading is a replay, a
      // different one under its sequence a conflict, a late one never accepted is queued (once).
      const r5 = readings[5] as StoredReading;
      expect(await store.accept(r5, deviceName(10))).toBe("replay");
      expect(await store.accept({ ...r5, value: "999" }, deviceName(10))).toBe("conflict");
      expect(await hot.queueDepth()).toBe(0);
      const late = readingsOf(11, 1, 3);
      await commitFinal(
        hot,
        [late[1] as StoredReading, late[2] as StoredReading].map((r) => r),
      );
      await archiver.runOnce();
      expect(await store.accept(late[0] as StoredReading, deviceName(11))).toBe("queued");
      expect(await store.accept(late[0] as StoredReading, deviceName(11))).toBe("replay");
      expect(await hot.queueDepth()).toBe(1);
      // With a retention, a reading older than it that the archive does not hold cannot be
      // checked (its batch may have been dropped): outside_window, nothing stored.
      const kept = new ArchivedStore({ hot, archive, retentionDays: 30 });
      const old = readingsOf(12, 1, 3);
      await commitFinal(hot, [old[2] as StoredReading]);
      await archiver.runOnce();
      await expect(kept.accept(old[0] as StoredReading, deviceName(12))).rejects.toSatisfy(
        (e) => e instanceof ReadingRejectedError && e.reason === "outside_window",
      );
      expect(await hot.queueDepth()).toBe(0);
    } finally {
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);

  it("archives and trims the readings a cut left out with their batch, and a cut that committed none", async () => {
    const prefix = `left${++prefixN}`;
    const hot = new RedisStore({ url: redis.url, prefix });
    const archive = await make();
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000 });
    const store = new ArchivedStore({ hot, archive });
    const probe = new Redis(redis.url);
    /** Cut these readings into one batch, leave out `left` (as the batcher does), make it final. */
    const cutLeavingOut = async (readings: StoredReading[], left: StoredReading[]) => {
      for (const r of readings) expect(await hot.accept(r, deviceOfId(r.id))).toBe("queued");
      const fence = (await hot.lease("test", 60_000)) as number;
      const pending = await hot.nextBatch(100_000, fence);
      if (!pending) throw new Error("no batch");
      const kept = readings.filter((r) => !left.includes(r));
      const committed: CommittedBatch = {
        ...(kept.length
          ? batchOf(kept)
          : { ...batchOf(readings), txHash: `0x${"0".repeat(64)}` as const, blockNumber: "0", gasUsed: "0" }),
        ids: kept.map((r) => r.id),
        leftOut: left.map((r) => ({ id: r.id, reason: "revoked" })),
      };
      await hot.completeBatch(pending, committed, fence);
      await hot.updateBatch(committed, true);
      return committed;
    };
    try {
      const readings = readingsOf(20, 1, 6);
      const left = [readings[2], readings[5]] as StoredReading[];
      const batch = await cutLeavingOut(readings, left);
      const none = readingsOf(21, 1, 3);
      const cut = await cutLeavingOut(none, none);
      expect((await hot.archiveLag()).readings).toBe(9);
      await archiver.runOnce();
      expect(archiver.state.archivedBatches).toBe(2);
      expect(archiver.state.trimmedReadings).toBe(9);
      // Nothing of them is left in Redis (the readings, their roots, the batch records)...
      expect(await probe.hlen(`${prefix}:readings`)).toBe(0);
      expect(await probe.hlen(`${prefix}:root`)).toBe(0);
      expect(await probe.hlen(`${prefix}:batches`)).toBe(0);
      expect(await hot.archiveLag()).toEqual({ batches: 0, readings: 0, oldestCommittedAt: null });
      // ...and the archive has them: the batch with its reasons, each reading under its cut.
      expect(await store.getBatch(batch.root)).toEqual(batch);
      expect(await store.getBatch(cut.root)).toEqual(cut);
      expect(await store.getReadings(left.map((r) => r.id))).toEqual(left);
      expect(await store.rootOf(none[1]?.id as string)).toBe(cut.root);
      // A resend of a left-out reading is a replay (the archive holds it), never queued again.
      for (const r of [...left, ...none]) expect(await store.accept(r, deviceOfId(r.id))).toBe("replay");
      expect(await hot.queueDepth()).toBe(0);
    } finally {
      probe.disconnect();
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);

  it.each<ArchiveStep>(["read", "written", "marked"])(
    "a crash after the step %s loses nothing and stores each batch once",
    async (step) => {
      const prefix = `arch${++prefixN}`;
      const hot = new RedisStore({ url: redis.url, prefix });
      const archive = await make();
      const crash = startArchiver({
        hot,
        archive,
        hotMs: 0,
        intervalMs: 60_000,
        afterStep: async (s) => {
          if (s === step) throw new Error(`crash after ${s}`);
        },
      });
      try {
        const dev = 20 + prefixN;
        const a = await commitFinal(hot, readingsOf(dev, 1, 20));
        const b = await commitFinal(hot, readingsOf(dev, 21, 20));
        await crash.runOnce();
        await crash.stop();
        // A fresh archiver (the bridge restarted) resumes from what Redis says.
        const resumed = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000 });
        await resumed.runOnce();
        await resumed.stop();
        for (const batch of [a, b]) expect((await archive.getBatch(batch.root))?.ids).toEqual(batch.ids);
        const ids = [...a.ids, ...b.ids];
        const got = await archive.getReadings(ids);
        expect(got.map((r) => r?.id)).toEqual(ids);
        expect(await hot.getReadings(ids)).toEqual(ids.map(() => null));
        const page = await archive.readingsOfDevice(deviceName(dev), { limit: 1000 });
        expect(page.readings.map((r) => r.id)).toEqual(ids);
      } finally {
        await archive.close();
        await hot.close();
      }
    },
    60_000,
  );
});

describe("retention", () => {
  it("drops archived batches committed before archive.retentionDays, keeps the others", async () => {
    const hot = new RedisStore({ url: redis.url, prefix: `keep${++prefixN}` });
    const d = mkdtempSync(join(tmpdir(), "so-archiver-"));
    dirs.push(d);
    const archive = new SqliteArchive(join(d, "archive.sqlite"));
    await archive.open();
    const oldReadings = readingsOf(60, 1, 5);
    const old = batchOf(oldReadings, Date.now() - 40 * 86_400_000);
    await archive.writeBatch(old, oldReadings);
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000, retentionDays: 30 });
    try {
      const recent = await commitFinal(hot, readingsOf(60, 6, 5));
      await archiver.runOnce();
      expect(await archive.getBatch(old.root)).toBeNull();
      expect((await archive.getBatch(recent.root))?.ids).toEqual(recent.ids);
    } finally {
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);
});

describe("an archive that stays unreachable", () => {
  it("lets batches wait in Redis, counts the lag, and refuses new readings (retry) beyond maxLagReadings", async () => {
    const hot = new RedisStore({ url: redis.url, prefix: `lag${++prefixN}` });
    // Nothing listens there: every archive call fails as PostgreSQL down does.
    const archive = new PostgresArchive({
      connection: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
    });
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000, maxLagReadings: 30 });
    const store = new ArchivedStore({ hot, archive, archiveTooFarBehind: () => archiver.tooFarBehind() });
    try {
      await commitFinal(hot, readingsOf(50, 1, 20));
      await archiver.runOnce();
      expect(archiver.state).toMatchObject({ reachable: false, lagBatches: 1, lagReadings: 20 });
      expect(await store.accept(readingsOf(50, 21, 1)[0] as StoredReading, deviceName(50))).toBe("queued");
      await commitFinal(hot, readingsOf(50, 22, 20));
      await archiver.runOnce();
      expect(archiver.state.lagReadings).toBe(41);
      await expect(
        store.accept(readingsOf(50, 42, 1)[0] as StoredReading, deviceName(50)),
      ).rejects.toMatchObject({
        name: "StoreUnavailableError",
        code: "ARCHIVE_LAG",
      });
      // The batches are all still in Redis, readable as before.
      expect((await store.getReadings([`${deviceName(50)}:1`]))[0]?.sequence).toBe("1");
    } finally {
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);
});

describe("Redis stays bounded", () => {
  it("holds the same number of keys and entries whatever the number of readings committed and archived", async () => {
    const prefix = `bounded${++prefixN}`;
    const hot = new RedisStore({ url: redis.url, prefix });
    const d = mkdtempSync(join(tmpdir(), "so-archiver-"));
    dirs.push(d);
    const archive = new SqliteArchive(join(d, "archive.sqlite"));
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000 });
    const probe = new Redis(redis.url);
    const footprint = async () => {
      const keys = await probe.keys(`${prefix}:*`);
      let entries = 0;
      for (const k of keys) {
        const type = await probe.type(k);
        entries +=
          type === "hash"
            ? await probe.hlen(k)
            : type === "zset"
              ? await probe.zcard(k)
              : type === "set"
                ? await probe.scard(k)
                : type === "list"
                  ? await probe.llen(k)
                  : 1;
      }
      return { keys: keys.length, entries };
    };
    try {
      const sizes: { keys: number; entries: number }[] = [];
      for (let round = 0; round < 6; round++) {
        // 20 devices, 50 readings each per round.
        const readings = Array.from({ length: 20 }, (_, dev) =>
          readingsOf(100 + dev, 1 + round * 50, 50),
        ).flat();
        await commitFinal(hot, readings);
        await archiver.runOnce();
        sizes.push(await footprint());
      }
      // 6,000 readings in all, the same footprint after the first round as after the last.
      expect(sizes.at(-1)).toEqual(sizes[1]);
      expect((await archive.stats()).readings).toBe(6000);
      expect((sizes.at(-1) as { entries: number }).entries).toBeLessThan(100);
    } finally {
      probe.disconnect();
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);
});
