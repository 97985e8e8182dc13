// A quick look at the device agent's memory (docs/BENCHMARKS.md, "What the agent's memory is made of"):
// node --expose-gc [V8 flags] bench/agent-memory.mjs <root: $PWD/dist, or the repo under --import tsx> <readings> <outbox file>
// fills an outbox offline as bench/agent-drain.ts does and prints RSS, V8 heap, anonymous and file-backed memory,
// and /proc/self/smaps's resident memory by kind: the node binary's pages, V8's heap pages (256 KiB
// mappings), malloc (the main heap and the threads' 64 MiB arenas), other anonymous and file mappings.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const [root, countS, path] = process.argv.slice(2);
const count = Number(countS);
const mb = (b) => (b / 1048576).toFixed(1);
/** Resident MiB of /proc/self/smaps by kind of mapping. */
function kinds() {
  const out = {};
  let kind = null;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (h) {
      const start = BigInt(`0x${h[1]}`);
      const kib = Number(BigInt(`0x${h[2]}`) - start) / 1024;
      const name = h[3];
      if (name === "") kind = kib === 256 ? "v8pages" : start % 0x4000000n === 0n ? "arenas" : "anon";
      else if (name === "[heap]") kind = "malloc";
      else if (name === process.execPath) kind = "nodebin";
      else kind = name.startsWith("[") ? "other" : "files";
      continue;
    }
    const r = /^Rss:\s+(\d+)/.exec(line);
    if (r && kind) out[kind] = (out[kind] ?? 0) + Number(r[1]) / 1024;
  }
  return Object.entries(out)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(" ");
}
function snap(label) {
  const m = process.memoryUsage();
  const s = readFileSync("/proc/self/smaps_rollup", "utf8");
  const g = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0) / 1024;
  console.log(
    `${label.padEnd(14)} rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} ext ${mb(m.external)} anon ${g("Anonymous").toFixed(1)} file ${(g("Rss") - g("Anonymous")).toFixed(1)}`,
  );
  console.log(`${"".padEnd(14)} ${kinds()}`);
}
snap("node");
const { DeviceAgent } = await import(`${root}/device-agent/agent.js`);
const { SoftwareSigner } = await import(`${root}/device-agent/signer.js`);
const FEED = "cold-room-7/temperature";
let sk;
do {
  sk = randomBytes(32);
} while (sk[0] === 0xff);
const agent = new DeviceAgent({
  deviceName: "ab".repeat(32),
  signer: new SoftwareSigner("p256", sk, { warn: () => {} }),
  domain: { chainId: 31337, registry: `0x${"11".repeat(20)}` },
  mqtt: { url: "mqtts://127.0.0.1:1", ca: "x", cert: "x", key: "x" },
  feeds: [FEED],
  outbox: { path, quotaBytes: 1024 * 1024 * 1024 },
});
await new Promise((r) => setTimeout(r, 200));
global.gc?.();
snap("loaded");
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 50);
const now = BigInt(Math.floor(Date.now() / 1000));
const t0 = performance.now();
for (let i = 0; i < count; i += 64) {
  const n = Math.min(64, count - i);
  await Promise.all(
    Array.from({ length: n }, (_, j) =>
      agent.take({ feed: FEED, value: BigInt(400 + ((i + j) % 300)), takenAt: now }),
    ),
  );
  if (i % 25_000 === 0 && i) snap(`filled ${i}`);
}
clearInterval(sampler);
global.gc?.();
snap("after fill");
console.log(
  `peak ${mb(peak)} depth ${agent.buffered} file ${mb(agent.outbox.fileBytes())} ${((performance.now() - t0) / 1000).toFixed(1)}s`,
);
agent.outbox.close();
