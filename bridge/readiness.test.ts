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
    expect(await ready()).toEqual({ ok: false, checks: { mqtt: true, redis: false, chain: true } });
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
});
