// What one poll of the fleet page costs the bridge: GET /fleet/summary over a real Redis with N
// devices, each with its last reading in the store, and this bridge's activity for them (one feed
// per 10 devices, a batch committed). Prints the answer's size and its latency (median, p95).
// Run: npx tsx bench/fleet-summary.ts [devices=200] [polls=50]
import { randomBytes } from "node:crypto";
import type { Hex } from "viem";
import { buildApp } from "../bridge/http/app.js";
import { FleetActivity } from "../bridge/http/fleet-activity.js";
import { Metrics } from "../bridge/metrics.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import type { StoredReading } from "../bridge/store/types.js";
import { startRedis } from "../testkit/redis.js";

const devices = Number(process.argv[2] ?? 200);
const polls = Number(process.argv[3] ?? 50);

const redis = await startRedis();
const store = new RedisStore({ url: redis.url, prefix: "bench-fleet" });
const activity = new FleetActivity();
try {
  console.error(`  storing a reading of each of ${devices} devices`);
  const names = Array.from({ length: devices }, () => randomBytes(32).toString("hex"));
  const feeds = Array.from(
    { length: Math.ceil(devices / 10) },
    () => `0x${randomBytes(32).toString("hex")}` as Hex,
  );
  const now = Math.floor(Date.now() / 1000);
  for (const [i, name] of names.entries()) {
    for (let seq = 1; seq <= 3; seq++) {
      const stored: StoredReading = {
        id: `${name}:${seq}`,
        deviceId: `0x${name}`,
        feedId: feeds[i % feeds.length] as Hex,
        value: String(1000 + i + seq),
        timestamp: String(now - 3 + seq),
        sequence: String(seq),
        signature: `0x${"00".repeat(64)}`,
        curve: "p256",
        receivedAt: Date.now(),
      };
      await store.accept(stored, name);
      activity.accepted({ id: stored.id, reading: undefined as never, stored });
    }
  }
  const fence = (await store.lease("bench", 60_000)) as number;
  const batch = await store.nextBatch(100_000, fence);
  if (batch) {
    const committed = {
      root: `0x${randomBytes(32).toString("hex")}` as Hex,
      ids: batch.ids,
      txHash: `0x${randomBytes(32).toString("hex")}` as Hex,
      blockNumber: "1",
      gasUsed: "50000",
      committedAt: Date.now(),
    };
    await store.completeBatch(batch, committed, fence);
    activity.committed(committed);
  }
  const app = buildApp({ store, metrics: new Metrics(), fleet: { activity, enrolled: () => names } });
  await app.inject({ url: "/fleet/summary" }); // warm up
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < polls; i++) {
    const t0 = performance.now();
    const res = await app.inject({ url: "/fleet/summary" });
    times.push(performance.now() - t0);
    if (res.statusCode !== 200) throw new Error(`summary answered ${res.statusCode}`);
    bytes = res.body.length;
  }
  await app.close();
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(1);
  console.log(
    `fleet summary: ${devices} devices (${Math.min(devices, 200)} listed), ${feeds.length} feeds, ${polls} polls: ` +
      `${(bytes / 1024).toFixed(0)} KiB, median ${at(0.5)} ms, p95 ${at(0.95)} ms`,
  );
} finally {
  await store.close();
  await redis.stop();
}
