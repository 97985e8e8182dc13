import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEAF_TYPES, leafValues } from "../../protocol/reading.js";
import { batchOf, deviceName, FEED_A, readingsOf } from "../../testkit/archive-readings.js";
import type { Service } from "../../testkit/process.js";
import { startRedis } from "../../testkit/redis.js";
import { toReading } from "../checks.js";
import { buildApp } from "../http/app.js";
import { Metrics } from "../metrics.js";
import { RedisStore } from "../store/redis-store.js";
import { latestPerFeed, type StoredReading } from "../store/types.js";
import { ArchivedStore } from "./archived-store.js";
import { startArchiver } from "./archiver.js";
import { SqliteArchive } from "./sqlite-archive.js";

let redis: Service;
let dir: string;
beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), "so-archive-routes-"));
}, 30_000);
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Served = {
  status: string;
  reading: Pick<StoredReading, "deviceId" | "feedId" | "value" | "timestamp" | "sequence">;
  batch: { root: Hex };
  proof: Hex[];
};

/** The served proof holds against the served root (OpenZeppelin's standard tree, as verifyReading checks it). */
const proofHolds = (s: Served) =>
  StandardMerkleTree.verify(s.batch.root, [...LEAF_TYPES], leafValues(toReading(s.reading)), s.proof);

describe("HTTP from Redis while hot, from the archive after", () => {
  it("serves the same reading, proof, batch and feed latest before and after the trim, and pages by device and feed", async () => {
    const hot = new RedisStore({ url: redis.url, prefix: "routes" });
    const archive = new SqliteArchive(join(dir, "archive.sqlite"));
    const archiver = startArchiver({ hot, archive, hotMs: 0, intervalMs: 60_000 });
    const store = new ArchivedStore({ hot, archive });
    const app = buildApp({ store, metrics: new Metrics(), pages: archive });
    try {
      const readings = readingsOf(7, 1, 300, 1_750_000_000);
      for (const r of readings) await store.accept(r, deviceName(7));
      const fence = (await hot.lease("t", 60_000)) as number;
      const pending = await hot.nextBatch(1000, fence);
      const batch = batchOf(readings);
      await hot.completeBatch(
        pending as { seq: number; ids: string[] },
        batch,
        fence,
        latestPerFeed(readings),
      );
      await hot.updateBatch(batch, true);
      const id = readings[123]?.id as string;
      const get = async (url: string) => {
        const res = await app.inject({ method: "GET", url });
        return { code: res.statusCode, body: res.json() };
      };
      const hotAnswers = [
        await get(`/readings/${id}`),
        await get(`/batches/${batch.root}`),
        await get(`/feeds/${FEED_A}/latest`),
      ];
      expect(hotAnswers.map((a) => a.code)).toEqual([200, 200, 200]);
      expect(proofHolds(hotAnswers[0]?.body as Served)).toBe(true);
      // Not archived yet: the pages are empty.
      expect((await get(`/devices/${deviceName(7)}/readings`)).body).toEqual({ readings: [], next: null });

      await archiver.runOnce();
      expect(await hot.getReadings([id])).toEqual([null]);
      const coldAnswers = [
        await get(`/readings/${id}`),
        await get(`/batches/${batch.root}`),
        await get(`/feeds/${FEED_A}/latest`),
      ];
      expect(coldAnswers).toEqual(hotAnswers);
      expect(proofHolds(coldAnswers[0]?.body as Served)).toBe(true);

      // Paged by device: all 300 in pages of 100 (limit capped at 1000), by signed time.
      const seen: string[] = [];
      let url = `/devices/${deviceName(7)}/readings?limit=100`;
      for (;;) {
        const page = await get(url);
        expect(page.code).toBe(200);
        seen.push(...(page.body as { readings: { id: string }[] }).readings.map((r) => r.id));
        const next = (page.body as { next: string | null }).next;
        if (!next) break;
        url = `/devices/${deviceName(7)}/readings?limit=100&cursor=${next}`;
      }
      expect(seen).toEqual(readings.map((r) => r.id));
      const feedPage = await get(`/feeds/${FEED_A}/readings?from=1750000010&to=1750000019&limit=5000`);
      expect(
        (feedPage.body as { readings: { id: string; root: string }[] }).readings.map((r) => r.id),
      ).toEqual(
        readings
          .filter((r) => r.feedId === FEED_A && Number(r.sequence) >= 10 && Number(r.sequence) <= 19)
          .map((r) => r.id),
      );
      expect((await get(`/devices/${deviceName(7)}/readings?cursor=bogus`)).body).toMatchObject({
        error: "BadCursor",
      });
      expect((await get(`/devices/${deviceName(7)}/readings?limit=0`)).code).toBe(400);
      expect((await get(`/devices/nope/readings`)).body).toMatchObject({ error: "BadQuery" });
      // PostgreSQL or the file gone: 503, not 404 or 500, for what left Redis; what Redis still
      // holds (a reading waiting for its batch) is answered as before.
      const waiting = readingsOf(7, 301, 1, 1_750_000_000)[0] as StoredReading;
      expect(await store.accept(waiting, deviceName(7))).toBe("queued");
      await archive.close();
      expect((await get(`/readings/${waiting.id}`)).body).toMatchObject({ status: "queued" });
      expect((await get(`/readings/${id}`)).body).toMatchObject({ error: "ArchiveUnavailable" });
      expect((await get(`/devices/${deviceName(7)}/readings`)).code).toBe(503);
    } finally {
      await app.close();
      await archiver.stop();
      await archive.close();
      await hot.close();
    }
  }, 60_000);
});
