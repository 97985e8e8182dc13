import type { PublicClient } from "viem";
import { describe, expect, it } from "vitest";
import { readinessCheck } from "./readiness.js";
import { MemoryStore } from "./store/memory-store.js";
import type { ReadingStore } from "./store/types.js";

const chainUp = { getBlockNumber: async () => 1n } as Pick<PublicClient, "getBlockNumber">;

describe("readinessCheck", () => {
  it("answers within its timeout when Redis hangs, with the failing check", async () => {
    const store = new MemoryStore();
    const hanging: ReadingStore = Object.assign(Object.create(store), {
      queueDepth: () => new Promise(() => {}),
    });
    const ready = readinessCheck({
      mqttConnected: () => true,
      store: hanging,
      publicClient: chainUp as PublicClient,
      timeoutMs: 200,
    });
    const started = Date.now();
    expect(await ready()).toEqual({
      ok: false,
      checks: { mqtt: true, redis: false, chain: true },
      reasons: { redis: "no answer within 200 ms" },
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("is ready when every part answers", async () => {
    const ready = readinessCheck({
      mqttConnected: () => true,
      store: new MemoryStore(),
      publicClient: chainUp as PublicClient,
    });
    expect(await ready()).toEqual({ ok: true, checks: { mqtt: true, redis: true, chain: true } });
  });

  it("reports the verify workers, and is not ready while none runs, with the reasons", async () => {
    let live = 2;
    const ready = readinessCheck({
      mqttConnected: () => false,
      mqttReason: () => "connect ECONNREFUSED 127.0.0.1:1",
      store: new MemoryStore(),
      publicClient: {
        getBlockNumber: async () => Promise.reject(new Error("fetch failed")),
      } as unknown as PublicClient,
      verifyPool: { status: () => ({ size: 2, live, restarts: 3, queued: 0, inFlight: 0 }) },
    });
    expect(await ready()).toMatchObject({
      ok: false,
      checks: { mqtt: false, redis: true, chain: false, verify: true },
      reasons: { mqtt: "connect ECONNREFUSED 127.0.0.1:1", chain: "fetch failed" },
      verifyWorkers: { size: 2, live: 2, restarts: 3 },
    });
    live = 0;
    expect((await ready()).reasons?.verify).toMatch(/no verify worker running/);
  });
});
