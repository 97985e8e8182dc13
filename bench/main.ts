// npm run bench — the bridge's benchmarks from one run; prints them and writes docs/BENCHMARKS.md.
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { defaultVerifyWorkers } from "../bridge/verify-pool.js";
import { secp256k1Implementation } from "../protocol/secp256k1-native.mjs";
import { benchIngest } from "./ingest.js";
import { benchLatency } from "./latency.js";
import { BRIDGE_NODE_FLAGS, benchMemory } from "./memory.js";
import { writeBenchSection } from "./report.js";

// BENCH_PARTS=ingest runs the ingest part alone (a loaded machine); the latency and memory
// paragraphs of docs/BENCHMARKS.md are then kept from the last full run, and marked so.
const parts = (process.env.BENCH_PARTS ?? "ingest,latency,memory").split(",");
const started = Date.now();
const loadBefore = loadavg()[0] ?? 0;
const results = [await benchIngest("p256"), await benchIngest("secp256k1")];
const loadAfter = loadavg()[0] ?? 0;
const full = parts.includes("latency") && parts.includes("memory");
const latency = full ? await benchLatency() : undefined;
const memory = full ? await benchMemory() : undefined;
const target = (r: { perSecond: number }) => `≥ 8,000/s: ${r.perSecond >= 8000 ? "✓" : "✗"}`;
const ingestLines = [
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (2-core machine, load average ${loadBefore.toFixed(1)} before and ${loadAfter.toFixed(1)} after the ingest runs: other work shared the cores), one bridge (in the benchmark's process, without \`npm run bridge\`'s V8 flags; signature checks of both curves on ${process.env.BENCH_VERIFY_WORKERS ?? defaultVerifyWorkers()} verify worker thread(s); secp256k1 through libsecp256k1's ${secp256k1Implementation} binding); pre-signed readings published by a separate process over mTLS to Mosquitto; ${results[0]?.readings} readings per curve. The raw rate is the same implementation on one core: P-256 node:crypto verify, secp256k1 libsecp256k1 recovery with the known key (v found by recovery).`,
  "",
  "| curve | ingest (readings/s: mTLS MQTT → verify → Redis enqueue → ack) | raw single-core verify (/s) | ingest / verify | target |",
  "|---|---:|---:|---:|---|",
  ...results.map(
    (r) =>
      `| ${r.curve} | ${r.perSecond.toFixed(0)} | ${r.verifyPerSecond.toFixed(0)} | ${((100 * r.perSecond) / r.verifyPerSecond).toFixed(0)}% | ${target(r)} |`,
  ),
];
const rest =
  latency && memory
    ? [
        "",
        `Latency from signing to the committed batch on-chain: ${latency.readings} readings at ${latency.load}/s (half P-256, half secp256k1), batch window 1 s, one block a second (in-process chain, interval mining).`,
        "",
        "| p50 | p99 | max | target (p99 ≤ window + 2 blocks) |",
        "|---:|---:|---:|---|",
        `| ${latency.p50.toFixed(0)} ms | ${latency.p99.toFixed(0)} ms | ${latency.max.toFixed(0)} ms | ≤ ${latency.target} ms ${latency.p99 <= latency.target ? "✓" : "✗"} |`,
        "",
        `Resident memory of the bridge process (as npm run bridge runs it: bridge/server.ts under tsx, ${BRIDGE_NODE_FLAGS.join(" ")}) with ${memory.devices} devices connected and publishing ${memory.rate.toFixed(0)} readings/s in all (${memory.accepted} accepted while sampling), hardhat node over HTTP, Mosquitto, Redis:`,
        "",
        "| steady RSS (second half of the run) | max RSS | target |",
        "|---:|---:|---|",
        `| ${memory.steadyMb.toFixed(0)} MB | ${memory.maxMb.toFixed(0)} MB | ≤ 250 MB ${memory.steadyMb <= 250 ? "✓" : "✗"} |`,
      ]
    : keptFromLastRun();
const table = [...ingestLines, ...rest].join("\n");
console.log(table);
const path = writeBenchSection("ingest", "Ingest (`npm run bench`)", table);
console.log(
  `bench done in ${((Date.now() - started) / 1000).toFixed(0)} s: ingest P-256 ${results[0]?.perSecond.toFixed(0)}/s, secp256k1 ${results[1]?.perSecond.toFixed(0)}/s${latency && memory ? `, latency p99 ${latency.p99.toFixed(0)} ms, bridge RSS ${memory.steadyMb.toFixed(0)} MB` : " (ingest only)"}; written to ${path}`,
);

/** The latency and memory paragraphs of the ingest section as the last full run wrote them. */
function keptFromLastRun(): string[] {
  const doc = readFileSync("docs/BENCHMARKS.md", "utf8");
  const section = doc.slice(
    doc.indexOf("<!-- bench:ingest begin -->"),
    doc.indexOf("<!-- bench:ingest end -->"),
  );
  const at = section.indexOf("Latency from signing");
  if (at < 0) return [];
  const kept = section.slice(at).trimEnd().split("\n");
  return [
    "",
    "Latency and memory: from the last full `npm run bench` (this run measured ingest only, `BENCH_PARTS=ingest`).",
    "",
    ...kept,
  ];
}
process.exit(0);
