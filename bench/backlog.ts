// npm run bench:backlog: a backlog of 10,000 readings (BENCH_BACKLOG) signed during a 5-minute
// outage, sent in a random order with a tenth of them twice, to a bridge that has just started:
// how each is answered, how many are committed once, twice or never, and the time to drain.
// The scene is testkit/backlog.ts, which test/e2e/backlog.test.ts runs with 2,000.
import { readFileSync, writeFileSync } from "node:fs";
import { runBacklog } from "../testkit/backlog.js";

const N = Number(process.env.BENCH_BACKLOG ?? 10_000);
const log = (m: string) => process.stderr.write(`${m}\n`);

const started = Date.now();
const r = await runBacklog({ readings: N, progress: log });
const other = Object.entries(r.counts).filter(([a]) => a !== "queued" && a !== "rejected:replay");
const fmt = (x: number) => x.toLocaleString("en");
const lines = [
  `Measured by \`npm run bench:backlog\` on ${new Date().toISOString().slice(0, 10)} (2-core machine): Mosquitto (mTLS, the fleet ACL), Redis and the in-process Hardhat chain; one P-256 device signed ${fmt(N)} readings dated across a 300 s outage while no bridge ran, then a bridge started (in the benchmark's process, rate limit 5,000/s with a burst of every message, P-256 checks on its worker thread) and the device sent the backlog over one connection, QoS 1, 200 in flight, in a random order (seed ${r.seed}) with ${fmt(r.duplicates)} readings sent twice (acks lost); ${fmt(r.belowWindow)} messages went out more than 1,024 (the replay window) below the highest sequence already sent. Then \`flush()\` committed what was queued.`,
  "",
  "| readings sent | messages (duplicates, resent) | answered queued | replay | other answers | queued once | committed once | committed twice | lost | batches on-chain (readings) | time to drain (all answered) | commit |",
  "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
  `| ${fmt(N)} | ${fmt(r.published)} (${fmt(r.duplicates)}, ${fmt(r.resent)}) | ${fmt(r.counts.queued ?? 0)} | ${fmt(r.counts["rejected:replay"] ?? 0)} | ${other.length ? other.map(([a, c]) => `${a} ${c}`).join(", ") : "none"} | ${fmt(r.queuedOnce)} | ${fmt(r.committedOnce)} | ${fmt(r.committedTwice)} | ${fmt(r.lost)} | ${r.batches} (${fmt(r.onChainCount)}) | ${(r.drainMs / 1000).toFixed(1)} s | ${(r.commitMs / 1000).toFixed(1)} s |`,
];
const table = lines.join("\n");
console.log(table);
const path = "docs/BENCHMARKS.md";
const begin = "<!-- bench:backlog begin -->";
const end = "<!-- bench:backlog end -->";
let doc = readFileSync(path, "utf8");
const block = `${begin}\n## Backlog after an outage (\`npm run bench:backlog\`)\n\n${table}\n${end}`;
doc = doc.includes(begin)
  ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), block)
  : `${doc.trimEnd()}\n\n${block}\n`;
writeFileSync(path, doc);
const exact = r.committedOnce === N && r.committedTwice === 0 && r.lost === 0 && r.onChainCount === N;
console.log(
  `bench:backlog done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${fmt(N)} readings, ${fmt(r.committedOnce)} committed once, ${r.committedTwice} twice, ${r.lost} lost (${exact ? "exact" : "NOT exact"}), drained in ${(r.drainMs / 1000).toFixed(1)} s; written to ${path}`,
);
process.exit(exact && other.length === 0 ? 0 : 1);
