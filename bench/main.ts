// npm run bench — the bridge's benchmarks from one run; prints them and writes docs/BENCHMARKS.md.
import { benchIngest } from "./ingest.js";
import { benchLatency } from "./latency.js";
import { BRIDGE_NODE_FLAGS, benchMemory } from "./memory.js";
import { writeBenchSection } from "./report.js";

const started = Date.now();
const results = [await benchIngest("p256"), await benchIngest("secp256k1")];
const latency = await benchLatency();
const memory = await benchMemory();
const lines = [
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (2-core machine), one bridge (in the benchmark's process, without \`npm run bridge\`'s V8 flags; P-256 checks on its worker thread); pre-signed readings published by a separate process over mTLS to Mosquitto; ${results[0]?.readings} readings per curve.`,
  "",
  "| curve | ingest (readings/s: mTLS MQTT → verify → Redis enqueue → ack) | raw single-core verify (/s) | ingest / verify | target |",
  "|---|---:|---:|---:|---|",
  ...results.map(
    (r) =>
      `| ${r.curve} | ${r.perSecond.toFixed(0)} | ${r.verifyPerSecond.toFixed(0)} | ${((100 * r.perSecond) / r.verifyPerSecond).toFixed(0)}% | ${r.curve === "p256" ? `≥ 8,000/s and ≥ 60%: ${r.perSecond >= 8000 && r.perSecond >= 0.6 * r.verifyPerSecond ? "✓" : "✗"}` : "—"} |`,
  ),
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
];
const table = lines.join("\n");
console.log(table);
const path = writeBenchSection("ingest", "Ingest (`npm run bench`)", table);
console.log(
  `bench done in ${((Date.now() - started) / 1000).toFixed(0)} s: P-256 ingest ${results[0]?.perSecond.toFixed(0)}/s (${((100 * (results[0]?.perSecond ?? 0)) / (results[0]?.verifyPerSecond ?? 1)).toFixed(0)}% of verify), latency p99 ${latency.p99.toFixed(0)} ms, bridge RSS ${memory.steadyMb.toFixed(0)} MB; written to ${path}`,
);
process.exit(0);
