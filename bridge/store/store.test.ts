import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Service } from "../../testkit/process.js";
import { startRedis } from "../../testkit/redis.js";
import { MemoryStore } from "./memory-store.js";
import { RedisStore } from "./redis-store.js";
import {
  MAX_SEQUENCE_GAP,
  REPLAY_WINDOW,
  type ReadingStore,
  readingId,
  type StoredReading,
} from "./types.js";

let redis: Service;
let prefixN = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const device = "ab".repeat(32);
const reading = (sequence: bigint, name = device, value = "1"): StoredReading => ({
  id: readingId(name, sequence),
  deviceId: `0x${name}`,
  feedId: `0x${"01".repeat(32)}`,
  value,
  timestamp: "1767225600",
  sequence: sequence.toString(),
  signature: `0x${"00".repeat(64)}`,
  curve: "p256",
  receivedAt: 0,
});
const committed = (root: Hex, ids: string[]) => ({
  root,
  ids,
  txHash: `0x${"aa".repeat(32)}` as Hex,
  blockNumber: "1",
  gasUsed: "1",
  committedAt: 0,
});

const stores: [string, () => ReadingStore][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["RedisStore", () => new RedisStore({ url: redis.url, prefix: `t${++prefixN}` })],
];

describe.each(stores)("%s", (_name, make) => {
  it("queues new sequences, late ones within the replay window once, and refuses replays", async () => {
    const s = make();
    expect(await s.accept(reading(5n), device)).toBe("queued");
    expect(await s.accept(reading(5n), device)).toBe("replay");
    expect(await s.accept(reading(9n), device)).toBe("queued"); // gaps are allowed
    expect(await s.accept(reading(4n), device)).toBe("queued"); // late (out of order), not seen before
    expect(await s.accept(reading(4n), device)).toBe("replay");
    expect(await s.queueDepth()).toBe(3);
    const high = 9n + REPLAY_WINDOW + 10n;
    expect(await s.accept(reading(high), device)).toBe("queued");
    // Older than the window and never seen: provably new (the store holds every reading it
    // accepted), so queued once, and not answered "replay" (which the device takes as delivered).
    expect(await s.accept(reading(high - REPLAY_WINDOW), device)).toBe("queued");
    expect(await s.accept(reading(high - REPLAY_WINDOW), device)).toBe("replay");
    expect(await s.accept(reading(high - REPLAY_WINDOW + 1n), device)).toBe("queued"); // just inside it
    await s.close();
  });

  it("answers replay only for a reading it holds, conflict for other content, and queues one it never had", async () => {
    const s = make();
    expect(await s.accept(reading(5n), device)).toBe("queued");
    // Signed again (new signature, later arrival), same signed content: the same reading.
    const resigned = { ...reading(5n), signature: `0x${"11".repeat(64)}` as Hex, receivedAt: 99 };
    expect(await s.accept(resigned, device)).toBe("replay");
    expect(await s.accept(reading(5n, device, "2"), device)).toBe("conflict"); // sequence reused
    expect(await s.accept({ ...reading(5n), timestamp: "1767225601" }, device)).toBe("conflict");
    const high = 5n + REPLAY_WINDOW + 1n;
    expect(await s.accept(reading(high), device)).toBe("queued");
    // 5 is now below the window: still held, so still told apart exactly.
    expect(await s.accept(reading(5n), device)).toBe("replay");
    expect(await s.accept(reading(5n, device, "2"), device)).toBe("conflict");
    expect(await s.accept(reading(4n), device)).toBe("queued");
    expect(await s.queueDepth()).toBe(3);
    expect(await s.getReadings([readingId(device, 5n), readingId(device, 4n)])).toEqual([
      reading(5n),
      reading(4n),
    ]);
    expect(await s.lastSequence(device)).toBe(high);
    await s.close();
  });

  it("takes a 1,600-reading backlog sent newest-first whole, and answers each again as a replay", async () => {
    const s = make();
    const n = 1600n;
    for (let i = n; i >= 1n; i--) expect([i, await s.accept(reading(i), device)]).toEqual([i, "queued"]);
    expect(await s.queueDepth()).toBe(Number(n));
    const held = await s.getReadings(
      Array.from({ length: Number(n) }, (_, i) => readingId(device, BigInt(i + 1))),
    );
    expect(held.every((r) => r !== null)).toBe(true);
    // Sent again (the acks were lost): each one is held, so each is a replay, delivered.
    for (const i of [n, n - REPLAY_WINDOW + 1n, n - REPLAY_WINDOW, 1n]) {
      expect(await s.accept(reading(i), device)).toBe("replay");
    }
    await s.close();
  });

  it("compares sequences beyond 2^53 exactly (uint64 range), within the allowed gap", async () => {
    const s = make();
    let seq = 0n;
    for (seq = MAX_SEQUENCE_GAP; seq < (1n << 64n) - MAX_SEQUENCE_GAP; seq += MAX_SEQUENCE_GAP) {
      expect(await s.accept(reading(seq), device)).toBe("queued");
      if (seq > 1n << 40n) break;
    }
    expect(await s.accept(reading(seq), device)).toBe("replay");
    expect(await s.accept(reading(seq - REPLAY_WINDOW), device)).toBe("queued"); // never had it
    expect(await s.accept(reading(seq - 1n), device)).toBe("queued");
    expect(await s.accept(reading(seq + 1n), device)).toBe("queued");
    await s.close();
  });

  it("refuses a sequence near 2^64 without locking the device out of later readings", async () => {
    const s = make();
    expect(await s.accept(reading(10n), device)).toBe("queued");
    expect(await s.accept(reading((1n << 64n) - 1n), device)).toBe("gap");
    expect(await s.accept(reading(10n + MAX_SEQUENCE_GAP + 1n), device)).toBe("gap");
    expect(await s.accept(reading(11n), device)).toBe("queued");
    expect(await s.accept(reading(11n + MAX_SEQUENCE_GAP), device)).toBe("queued"); // exactly the gap
    const fresh = "cd".repeat(32);
    expect(await s.accept(reading((1n << 64n) - 1n, fresh), fresh)).toBe("gap"); // a new device too
    expect(await s.accept(reading(1n, fresh), fresh)).toBe("queued");
    await s.close();
  });

  it("accepts exactly one of many concurrent copies of a sequence", async () => {
    const s = make();
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => s.accept(reading(1n), device)));
    expect(outcomes.filter((o) => o === "queued")).toHaveLength(1);
    expect(await s.queueDepth()).toBe(1);
    await s.close();
  });

  it("hands out the same in-flight batch until it is recorded as committed", async () => {
    const s = make();
    for (let i = 1n; i <= 5n; i++) await s.accept(reading(i), device);
    const fence = (await s.lease("me", 10_000)) as number;
    const b1 = await s.nextBatch(3, fence);
    expect(b1?.ids).toEqual([1n, 2n, 3n].map((i) => readingId(device, i)));
    expect(await s.nextBatch(3, fence)).toEqual(b1);
    await s.completeBatch(
      b1 as NonNullable<typeof b1>,
      committed(`0x${"11".repeat(32)}`, b1?.ids ?? []),
      fence,
    );
    expect(await s.rootOf(readingId(device, 2n))).toBe(`0x${"11".repeat(32)}`);
    const b2 = await s.nextBatch(3, fence);
    expect(b2?.ids).toEqual([4n, 5n].map((i) => readingId(device, i)));
    expect(await s.rootOf(readingId(device, 4n))).toBeNull();
    await s.close();
  });
});

describe("RedisStore across restarts", () => {
  it("keeps queue, in-flight batch and replay state when the bridge dies before recording a commit", async () => {
    const s = new RedisStore({ url: redis.url, prefix: "restart" });
    for (let i = 1n; i <= 4n; i++) await s.accept(reading(i), device);
    const inflight = await s.nextBatch(2, (await s.lease("bridge-1", 10_000)) as number);
    await s.close();
    const again = new RedisStore({ url: redis.url, prefix: "restart" });
    expect(await again.nextBatch(2, (await again.lease("bridge-1", 10_000)) as number)).toEqual(inflight);
    expect(await again.queueDepth()).toBe(2);
    expect(await again.accept(reading(3n), device)).toBe("replay"); // the window survived too
    await again.close();
  });
});

describe("RedisStore submitter lease", () => {
  it("has one holder at a time, and fences a holder that lost the lease", async () => {
    const a = new RedisStore({ url: redis.url, prefix: "lease" });
    const b = new RedisStore({ url: redis.url, prefix: "lease" });
    for (let i = 1n; i <= 3n; i++) await a.accept(reading(i), device);
    const fenceA = await a.lease("bridge-a", 200);
    expect(fenceA).not.toBeNull();
    expect(await b.lease("bridge-b", 200)).toBeNull();
    expect(await a.lease("bridge-a", 200)).toBe(fenceA); // renewal keeps the token
    const batch = await a.nextBatch(2, fenceA as number);
    await new Promise((r) => setTimeout(r, 300)); // a stalls past its lease
    const fenceB = await b.lease("bridge-b", 10_000);
    expect(fenceB).toBeGreaterThan(fenceA as number);
    await expect(
      a.completeBatch(
        batch as NonNullable<typeof batch>,
        committed(`0x${"22".repeat(32)}`, batch?.ids ?? []),
        fenceA as number,
      ),
    ).rejects.toThrow(/FENCED/);
    expect(await b.nextBatch(2, fenceB as number)).toEqual(batch); // the new holder finishes the same batch
    await a.close();
    await b.close();
  });
});

describe("RedisStore lease release", () => {
  it("lets another owner take the lease at once after its holder releases it, and fences the releaser", async () => {
    const a = new RedisStore({ url: redis.url, prefix: "release" });
    const b = new RedisStore({ url: redis.url, prefix: "release" });
    await a.accept(reading(1n), device);
    const fenceA = (await a.lease("bridge-a", 60_000)) as number;
    expect(await b.lease("bridge-b", 60_000)).toBeNull();
    expect(await b.releaseLease("bridge-b")).toBe(false); // not the holder: changes nothing
    expect(await b.lease("bridge-b", 60_000)).toBeNull();
    expect(await a.releaseLease("bridge-a")).toBe(true);
    const fenceB = await b.lease("bridge-b", 60_000); // at once, not after the 60 s
    expect(fenceB).toBeGreaterThan(fenceA);
    await expect(a.nextBatch(10, fenceA)).rejects.toThrow(/FENCED/);
    expect((await b.nextBatch(10, fenceB as number))?.ids).toEqual([readingId(device, 1n)]);
    expect(await a.releaseLease("bridge-a")).toBe(false);
    expect(await a.lease("bridge-a", 60_000)).toBeNull();
    await a.close();
    await b.close();
  });
});
