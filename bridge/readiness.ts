import type { PublicClient } from "viem";
import type { ReadingStore } from "./store/types.js";
import { withinTime } from "./time-limit.js";
import type { VerifyPoolStatus } from "./verify-pool.js";

export type ReadyCheck = {
  ok: boolean;
  checks: Record<string, boolean>;
  /** For each failed check, why (an error's message, "no answer within 2000 ms", ...). */
  reasons?: Record<string, string>;
  /** The verify workers, when signatures are checked on worker threads. */
  verifyWorkers?: Pick<VerifyPoolStatus, "size" | "live" | "restarts">;
};

/** How long /readyz waits for Redis or the chain before it counts them as unreachable. */
export const READY_PROBE_TIMEOUT_MS = 2_000;

/**
 * Whether the bridge can work: MQTT connected, the store (Redis) and the chain reachable, a verify
 * worker running. Each probe counts as failed after `timeoutMs`: a Redis that is down holds
 * commands in its client's offline queue, and /readyz must answer (503) rather than hang.
 */
export function readinessCheck(p: {
  mqttConnected: () => boolean;
  /** Why MQTT is not connected (the last connection error), when known. */
  mqttReason?: () => string | null;
  store: ReadingStore;
  publicClient: PublicClient;
  verifyPool?: { status(): VerifyPoolStatus };
  /** More conditions by name: each returns why the bridge is not ready, or null. */
  more?: Record<string, () => string | null>;
  /**
   * With an archive: whether it was opened (reachable at least once since start, schema in place)
   * and does not lag beyond its maximum. Down mid-run within the lag bound, the bridge stays
   * ready: Redis keeps the batches and serves their proofs meanwhile.
   */
  archiveReady?: () => boolean;
  timeoutMs?: number;
}): () => Promise<ReadyCheck> {
  const timeoutMs = p.timeoutMs ?? READY_PROBE_TIMEOUT_MS;
  const reachable = (reasons: Record<string, string>, name: string, probe: () => Promise<unknown>) =>
    withinTime(
      probe().then(
        () => true,
        (err: unknown) => {
          reasons[name] = err instanceof Error ? err.message.split("\n")[0] || err.name : String(err);
          return false;
        },
      ),
      timeoutMs,
      () => {
        reasons[name] = `no answer within ${timeoutMs} ms`;
        return false;
      },
    );
  return async () => {
    const reasons: Record<string, string> = {};
    const [redis, chain] = await Promise.all([
      reachable(reasons, "redis", () => p.store.queueDepth()),
      reachable(reasons, "chain", () => p.publicClient.getBlockNumber()),
    ]);
    const checks: Record<string, boolean> = { mqtt: p.mqttConnected(), redis, chain };
    if (!checks.mqtt) reasons.mqtt = p.mqttReason?.() ?? "not connected to the broker";
    const extra: Pick<ReadyCheck, "verifyWorkers"> = {};
    if (p.verifyPool) {
      const { size, live, restarts } = p.verifyPool.status();
      checks.verify = live > 0;
      if (!checks.verify) reasons.verify = `no verify worker running (${size} configured, being replaced)`;
      extra.verifyWorkers = { size, live, restarts };
    }
    for (const [name, why] of Object.entries(p.more ?? {})) {
      const reason = why();
      checks[name] = reason === null;
      if (reason !== null) reasons[name] = reason;
    }
    if (p.archiveReady) {
      checks.archive = p.archiveReady();
      if (!checks.archive)
        reasons.archive = "the archive is not open yet or lags beyond archive.maxLagReadings";
    }
    const ok = Object.values(checks).every(Boolean);
    return { ok, checks, ...(ok ? {} : { reasons }), ...extra };
  };
}
