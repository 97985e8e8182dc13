import type { PublicClient } from "viem";
import type { ReadingStore } from "./store/types.js";

export type ReadyCheck = { ok: boolean; checks: Record<string, boolean> };

/** Whether the bridge can work: MQTT connected, the store (Redis) and the chain reachable. */
export function readinessCheck(p: {
  mqttConnected: () => boolean;
  store: ReadingStore;
  publicClient: PublicClient;
}): () => Promise<ReadyCheck> {
  const reachable = (probe: Promise<unknown>) =>
    probe.then(
      () => true,
      () => false,
    );
  return async () => {
    const [redis, chain] = await Promise.all([
      reachable(p.store.queueDepth()),
      reachable(p.publicClient.getBlockNumber()),
    ]);
    const checks = { mqtt: p.mqttConnected(), redis, chain };
    return { ok: Object.values(checks).every(Boolean), checks };
  };
}
