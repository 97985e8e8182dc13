import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startRedis } from "../../testkit/redis.js";
import { assertDurable } from "./durability.js";
import { StoreNotDurableError, StoreUnavailableError } from "./errors.js";
import { MemoryStore } from "./memory-store.js";
import { RedisStore } from "./redis-store.js";
import { readingId, type StoredReading } from "./types.js";

const device = "ef".repeat(32);
const reading = (sequence: bigint): StoredReading => ({
  id: readingId(device, sequence),
  deviceId: `0x${device}`,
  feedId: `0x${"01".repeat(32)}`,
  value: "1",
  timestamp: "1767225600",
  sequence: sequence.toString(),
  signature: `0x${"00".repeat(64)}`,
  curve: "p256",
  receivedAt: 0,
});

/** The store's durability report on a redis-server started with these extra arguments. */
async function reportOn(args: string[]) {
  const redis = await startRedis({ args });
  const s = new RedisStore({ url: redis.url });
  try {
    return await s.checkDurability();
  } finally {
    await s.close();
    await redis.stop();
  }
}

describe("checkDurability", () => {
  it("accepts appendonly yes with appendfsync always and noeviction", async () => {
    const report = await reportOn(["--maxmemory-policy", "noeviction"]);
    expect(report.status).toBe("durable");
    expect(report.source).toBe("config");
    expect(() => assertDurable(report)).not.toThrow();
  });

  it("refuses a Redis without an append-only file, naming the setting", async () => {
    const report = await reportOn(["--appendonly", "no"]);
    expect(report.status).toBe("not_durable");
    expect(() => assertDurable(report)).toThrow(StoreNotDurableError);
    try {
      assertDurable(report);
    } catch (err) {
      expect((err as StoreNotDurableError).failed.map((c) => c.setting)).toEqual(["appendonly"]);
    }
  });

  it("refuses a Redis that evicts keys (allkeys-lru)", async () => {
    const report = await reportOn(["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    expect(report.status).toBe("not_durable");
    expect(report.checks.find((c) => c.setting === "maxmemory-policy")?.status).toBe("fail");
  });

  it("warns on appendfsync everysec without refusing", async () => {
    const report = await reportOn(["--appendfsync", "everysec"]);
    expect(report.status).toBe("durable");
    expect(report.checks.find((c) => c.setting === "appendfsync")?.status).toBe("warn");
  });

  it("reads AOF and eviction from INFO when CONFIG is disabled, and says appendfsync is unknown", async () => {
    const off = await reportOn(["--rename-command", "CONFIG", "", "--appendonly", "no"]);
    expect(off.source).toBe("info");
    expect(off.status).toBe("not_durable");
    const on = await reportOn(["--rename-command", "CONFIG", ""]);
    expect(on.status).toBe("unknown");
    expect(on.checks.find((c) => c.setting === "appendfsync")?.value).toBe("unknown");
    expect(() => assertDurable(on)).not.toThrow();
  });

  it("reports the in-process store as not durable", async () => {
    expect(() => assertDurable(MEMORY_REPORT)).toThrow(StoreNotDurableError);
  });
});

const MEMORY_REPORT = await new MemoryStore().checkDurability();

describe("RedisStore at maxmemory", () => {
  it("refuses a reading with a retryable error, writes none of it, and accepts it once memory is freed", async () => {
    const redis = await startRedis({ args: ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"] });
    const s = new RedisStore({ url: redis.url, prefix: "oom" });
    const raw = new Redis(redis.url);
    try {
      for (let i = 1n; i <= 3n; i++) expect(await s.accept(reading(i), device)).toBe("queued");
      // Fill the rest of the memory with other data until Redis refuses even a tiny write (a
      // large refused write can be over the limit only through its own query buffer).
      let n = 0;
      const refused = async (v: string) =>
        (await raw.set(`filler:${n++}`, v).catch((e: Error) => e)) !== "OK";
      while (!(await refused("x".repeat(4096))) || !(await refused("x")));
      const err = await s.accept(reading(4n), device).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).retryable).toBe(true);
      expect((err as StoreUnavailableError).code).toBe("OOM");
      // Nothing of the refused reading was written; the store is as before.
      expect(await s.lastSequence(device)).toBe(3n);
      expect(await s.queueDepth()).toBe(3);
      expect(await s.getReadings([readingId(device, 4n)])).toEqual([null]);
      // The commit path still runs while intake is refused.
      const fence = (await s.lease("bridge", 10_000)) as number;
      expect((await s.nextBatch(10, fence))?.ids).toHaveLength(3);
      await raw.del(...Array.from({ length: n }, (_, i) => `filler:${i}`));
      expect(await s.accept(reading(4n), device)).toBe("queued");
      expect(await s.accept(reading(4n), device)).toBe("replay");
      expect(await s.queueDepth()).toBe(1);
    } finally {
      raw.disconnect();
      await s.close();
      await redis.stop();
    }
  });
});

describe("RedisStore on a durable Redis", () => {
  it("keeps every reading it answered queued through a kill -9 of Redis", async () => {
    const redis = await startRedis(); // appendonly yes, appendfsync always
    const s = new RedisStore({ url: redis.url, prefix: "kill" });
    try {
      const n = 300;
      const outcomes = await Promise.all(
        Array.from({ length: n }, (_, i) => s.accept(reading(BigInt(i + 1)), device)),
      );
      expect(outcomes.every((o) => o === "queued")).toBe(true);
      await redis.restart?.({ kill: true });
      const ids = Array.from({ length: n }, (_, i) => readingId(device, BigInt(i + 1)));
      expect((await s.getReadings(ids)).filter((r) => r === null)).toHaveLength(0);
      expect(await s.queueDepth()).toBe(n);
      expect(await s.lastSequence(device)).toBe(BigInt(n));
    } finally {
      await s.close();
      await redis.stop();
    }
  });
});
