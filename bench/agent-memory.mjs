// A quick look at the device agent's memory (docs/BENCHMARKS.md, "What the agent's memory is made of"):
// node --expose-gc [V8 flags] bench/agent-memory.mjs <root: $PWD/dist, or the repo under --import tsx> <readings> <outbox file>
// fills an outbox offline as bench/agent-drain.ts does and prints RSS, V8 heap, anonymous and file-backed memory.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const [root, countS, path] = process.argv.slice(2);
const count = Number(countS);
const mb = (b) => (b / 1048576).toFixed(1);
function snap(label) {
  const m = process.memoryUsage();
  const s = readFileSync("/proc/self/smaps_rollup", "utf8");
  const g = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0) / 1024;
  console.log(
    `${label.padEnd(14)} rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} ext ${mb(m.external)} anon ${g("Anonymous").toFixed(1)} file ${(g("Rss") - g("Anonymous")).toFixed(1)}`,
  );
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
