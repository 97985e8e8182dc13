import type { PublicClient } from "viem";
import type { ReadingStore } from "./store/types.js";
import { withinTime } from "./time-limit.js";

export type ReadyCheck = { ok: boolean; checks: Record<string, boolean> };

/** How long /readyz waits for Redis or the chain before it counts them as unreachable. */
export const READY_PROBE_TIMEOUT_MS = 2_000;

/**
 * Whether the bridge can work: MQTT connected, the store (Redis) and the chain reachable. Each
 * probe counts as failed after `timeoutMs`: a Redis that is down holds commands in its client's
 * offline queue, and /readyz must answer (503) rather than hang.
 */
export function readinessCheck(p: {
  mqttConnected: () => boolean;
  store: ReadingStore;
  publicClient: PublicClient;
  /**
   * With an archive: whether it was opened (reachable at least once since start, schema in place)
   * and does not lag beyond its maximum. Down mid-run within the lag bound, the bridge stays
   * ready: Redis keeps the batches and serves their proofs meanwhile.
   */
  archiveReady?: () => boolean;
  timeoutMs?: number;
}): () => Promise<ReadyCheck> {
  const timeoutMs = p.timeoutMs ?? READY_PROBE_TIMEOUT_MS;
  const reachable = (probe: () => Promise<unknown>) =>
    withinTime(
      probe().then(
        () => true,
        () => false,
      ),
      timeoutMs,
      () => false,
    );
  return async () => {
    const [redis, chain] = await Promise.all([
      reachable(() => p.store.queueDepth()),
      reachable(() => p.publicClient.getBlockNumber()),
    ]);
    const checks: Record<string, boolean> = { mqtt: p.mqttConnected(), redis, chain };
    if (p.archiveReady) checks.archive = p.archiveReady();
    return { ok: Object.values(checks).every(Boolean), checks };
  };
}
