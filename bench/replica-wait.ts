// npm run bench:replica-wait — what acknowledging a reading only once a replica holds it (Redis
// WAIT, redis.waitReplicas 1) costs: readings accepted per second into a Sentinel-managed primary
// with one replica, 1,024 at a time as the bridge runs them, without and with the wait.
import { randomBytes } from "node:crypto";
import { RedisStore } from "../bridge/store/redis-store.js";
import type { StoredReading } from "../bridge/store/types.js";
import { startSentinelSet } from "../testkit/redis-sentinel.js";
import { envNumber, log } from "./report.js";

const READINGS = envNumber("BENCH_READINGS", 20_000);
const IN_FLIGHT = 1024;

async function rate(store: RedisStore, device: string): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < READINGS) {
        const seq = ++next;
        const r: StoredReading = {
          id: `${device}:${seq}`,
          deviceId: `0x${device}`,
          feedId: `0x${"22".repeat(32)}`,
          value: "1",
          timestamp: "1",
          sequence: String(seq),
          signature: `0x${"00".repeat(65)}`,
          curve: "secp256k1",
          receivedAt: Date.now(),
        };
        await store.accept(r, device);
      }
    }),
  );
  return READINGS / ((performance.now() - started) / 1000);
}

const set = await startSentinelSet();
try {
  const rows: string[] = [];
  for (const replicas of [0, 1]) {
    log(`accepting ${READINGS} readings, waiting for ${replicas} replica(s)`);
    const store = new RedisStore({
      url: "redis://sentinel-primary",
      sentinels: set.sentinels,
      name: set.name,
      prefix: `wait${replicas}`,
      ...(replicas ? { waitReplicas: { replicas, timeoutMs: 1000 } } : {}),
    });
    const perSecond = await rate(store, randomBytes(32).toString("hex"));
    await store.close();
    rows.push(
      `| ${replicas ? "WAIT 1 before the ack" : "primary only (AOF always)"} | ${perSecond.toFixed(0)} |`,
    );
  }
  console.log(["| ack after | readings accepted/s |", "|---|---:|", ...rows].join("\n"));
  console.log(`bench:replica-wait done: ${READINGS} readings each, ${IN_FLIGHT} in flight`);
} finally {
  await set.stop();
}
