// npm run bench:hostile: what one device certificate can do to the bridge. Huge messages (1 MiB,
// 16 MiB, 256 MiB, nested JSON) and a flood of 100,000 garbage messages from one device, while
// another device publishes every 50 ms: its ack latency, the bridge's log bytes, and the resident
// memory of the process that runs the bridge (the attacker publishes from its own process).
import { percentile } from "../testkit/flood.js";
import { floodWhileMeasuring, startHostileScene } from "../testkit/hostile-scene.js";
import { envNumber, log, writeBenchSection } from "./report.js";

const FLOOD = envNumber("BENCH_FLOOD", 100_000);
const MiB = 1024 * 1024;

const started = Date.now();
let rssMax = 0;
const sampler = setInterval(() => {
  rssMax = Math.max(rssMax, process.memoryUsage().rss);
}, 100);
const scene = await startHostileScene();
const rssIdleMb = process.memoryUsage().rss / MiB;
rssMax = 0;
const huge: { label: string; reachedBridge: number; victimAcked: boolean }[] = [];
for (const [label, bytes, kind] of [
  ["1 MiB garbage", MiB, "garbage"],
  ["16 MiB nested JSON", 16 * MiB, "nested"],
  ["256 MiB garbage", 256 * MiB - 1024, "garbage"],
] as const) {
  log(`  ${label}`);
  const before = scene.bridge.metrics.totalRejected();
  const flood = await scene.flood({ bytes, kind, trailer: true });
  await flood.go();
  flood.stop();
  while (scene.bridge.metrics.totalRejected() === before) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1_000));
  const seq = await scene.victim.publish(scene.infra.stack.feedId, 1n);
  const ack = await scene.victim.waitForAck(seq, 10_000).catch(() => null);
  huge.push({
    label,
    reachedBridge: scene.bridge.metrics.totalRejected() - before - 1,
    victimAcked: ack?.status === "queued",
  });
}
const rssHugeMb = rssMax / MiB;
rssMax = 0;
log(`  flood of ${FLOOD} garbage messages`);
const flood = await floodWhileMeasuring(scene, FLOOD);
const rssFloodMb = rssMax / MiB;
clearInterval(sampler);
await scene.stop();

const p99 = percentile(flood.latencies, 99);
const logPer100k = (flood.logBytes * 100_000) / flood.sent;
const lines = [
  `Measured by \`npm run bench:hostile\` on ${new Date().toISOString().slice(0, 10)} (2-core machine): Mosquitto from the generated config, the bridge in the benchmark's process with its default limits (20 readings/s per device, bursts of 40), the attacker in its own process with one device certificate.`,
  "",
  `RSS is the benchmark's whole process (the bridge, and beside it the in-process Hardhat chain and the test harness): ${rssIdleMb.toFixed(0)} MB once everything had started, before any attack.`,
  "",
  "| attack | reached the bridge | other device still acked | RSS max of the process |",
  "|---|---:|---|---:|",
  ...huge.map(
    (h) =>
      `| ${h.label} | ${h.reachedBridge} | ${h.victimAcked ? "yes" : "no"} | ${rssHugeMb.toFixed(0)} MB (all three) |`,
  ),
  "",
  "| flood of garbage from one device | other device's ack p50 | p99 (goal ≤ 250 ms) | its readings not queued | rejections counted | log bytes per 100,000 rejections (goal ≤ 1 MB) | RSS max |",
  "|---:|---:|---:|---:|---:|---:|---:|",
  `| ${flood.sent.toLocaleString("en")} (QoS 0) | ${percentile(flood.latencies, 50).toFixed(0)} ms | ${p99.toFixed(0)} ms ${p99 <= 250 ? "✓" : "✗"} | ${flood.notQueued} | ${flood.rejected.toLocaleString("en")} | ${logPer100k.toFixed(0)} ${logPer100k <= 1e6 ? "✓" : "✗"} | ${rssFloodMb.toFixed(0)} MB |`,
];
const table = lines.join("\n");
console.log(table);
const path = writeBenchSection("hostile", "Hostile input (`npm run bench:hostile`)", table);
console.log(
  `bench:hostile done in ${((Date.now() - started) / 1000).toFixed(0)} s: flood of ${flood.sent} → other device's ack p99 ${p99.toFixed(0)} ms, ${logPer100k.toFixed(0)} log bytes per 100,000 rejections; written to ${path}`,
);
process.exit(0);
