// npm run bench:agent: the device agent's own costs and rates.
//  1. The outbox: µs per reading committed (fsync included), one per transaction and 100 at once.
//  2. Readings taken, persisted and published per second (software key) to a real bridge.
//  3. A backlog of 100,000 readings (BENCH_AGENT_BACKLOG) in the outbox, drained to the bridge
//     by an agent in its own process: time, rate and that process's RSS.
// Mosquitto (mTLS), Redis and the in-process chain; the bridge runs in this process, the draining
// agent in its own (bench/agent-drain.ts, which loads only the agent's modules).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { join } from "node:path";
import { FleetCertificates } from "../bridge/certificates.js";
import { DeviceAgent } from "../device-agent/agent.js";
import { Outbox } from "../device-agent/outbox.js";
import { Pkcs11Token } from "../device-agent/pkcs11-signer.js";
import { tokenTlsContext } from "../device-agent/tls.js";
import { enrollTokenDevice } from "../fleet/enroll.js";
import { createFleetCa } from "../pki/fleet-ca.js";
import { commitCounts, siteOn, startDeviceAgent } from "../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../testkit/infra.js";
import { createSoftHsmToken, SOFTHSM_MODULE } from "../testkit/softhsm.js";
import { enrollDevice } from "../testkit/stack.js";
import { envNumber, log, writeBenchSection } from "./report.js";

const FEED = "cold-room-7/temperature";
const payload = (seq: bigint) =>
  `{"v":1,"deviceId":"0x${"ab".repeat(32)}","feedId":"0x${"cd".repeat(32)}","value":"512","timestamp":"1764400000","sequence":"${seq}","signature":"0x${"ef".repeat(64)}"}`;

const started = Date.now();
const BACKLOG = envNumber("BENCH_AGENT_BACKLOG", 100_000);
const LIVE = envNumber("BENCH_AGENT_LIVE", 5_000);
/** The draining agent's window (publishing.maxInFlight); by default the agent's: from 32 up to 256. */
const WINDOW = process.env.BENCH_AGENT_WINDOW ? Number(process.env.BENCH_AGENT_WINDOW) : undefined;
const dir = mkdtempSync(join("/var/tmp", "so-bench-agent-"));
/**
 * The V8 flags deploy/systemd/sensor-oracle-agent.service gives the compiled package (BENCH_AGENT_NODE_FLAGS
 * overrides): a small young generation, old space capped, and no optimizing compiler (--max-opt=1:
 * the interpreter and the baseline compiler; TurboFan cost the agent about 10 MB).
 */
const AGENT_NODE_FLAGS = (
  process.env.BENCH_AGENT_NODE_FLAGS ?? "--max-semi-space-size=1 --max-old-space-size=48 --max-opt=1"
)
  .split(" ")
  .filter(Boolean);
const fmt = (x: number) => Math.round(x).toLocaleString("en");

// 1. The outbox alone, on this machine's disk (ext4): every commit fsync'd (synchronous FULL).
log("outbox: one reading per transaction, then 100 per transaction");
const outbox = new Outbox({ path: join(dir, "micro.db") });
const SINGLE = 2_000;
let t = performance.now();
for (let i = 0; i < SINGLE; i++) {
  const s = outbox.sequences.take();
  await outbox.add({ sequence: s, payload: payload(s) }, 0n);
}
const singleUs = ((performance.now() - t) * 1000) / SINGLE;
const BATCHED = 50_000;
t = performance.now();
for (let i = 0; i < BATCHED; i += 100) {
  const seqs = Array.from({ length: 100 }, () => outbox.sequences.take());
  await Promise.all(seqs.map((s) => outbox.add({ sequence: s, payload: payload(s) }, 0n)));
}
const batchedUs = ((performance.now() - t) * 1000) / BATCHED;
outbox.close();
log(`  ${singleUs.toFixed(0)} µs per reading alone, ${batchedUs.toFixed(1)} µs in transactions of 100`);

// 2 and 3 against a real bridge.
const ca = await createFleetCa();
const infra = await startTestInfra(ca);
const certificates = new FleetCertificates(ca.certPem);
const { bridge, store } = await startTestBridge(ca, infra, {
  prefix: "bench-agent",
  certificates,
  batchIntervalMs: 3_600_000,
  rateLimit: { perSecond: 100_000, burst: 100_000 },
});
const site = siteOn(ca, infra.broker, infra.stack);
const device = async () => {
  const d = await enrollDevice(infra.stack, ca, "p256");
  certificates.add(d.certPem);
  return d;
};

/** LIVE readings taken 32 at a time, signed, stored and published until all are acknowledged: ms. */
async function liveRun(agent: DeviceAgent): Promise<number> {
  const t0 = performance.now();
  const takenAt = BigInt(Math.floor(Date.now() / 1000));
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < LIVE) {
        next++;
        await agent.take({ feed: FEED, value: 500n, takenAt });
      }
    }),
  );
  log(`  ${LIVE} taken in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let shown = performance.now();
  while (agent.buffered > 0) {
    await new Promise((r) => setTimeout(r, 10));
    if (performance.now() - shown > 5_000) {
      shown = performance.now();
      log(`  ${agent.buffered} not yet acknowledged (connected: ${agent.connected})`);
    }
  }
  const ms = performance.now() - t0;
  await agent.close();
  return ms;
}

log(`live: ${LIVE} readings taken (32 at a time), signed with the software key, stored and published`);
const liveDevice = await device();
const liveMs = await liveRun(
  await startDeviceAgent(liveDevice, site, { feeds: [FEED], outbox: { path: join(dir, "live.db") } }),
);
log(`  all acknowledged after ${(liveMs / 1000).toFixed(1)} s`);

log("live: the same with the keys in SoftHSM2 (reading signatures through PKCS#11, TLS through the engine)");
const hsm = createSoftHsmToken("bench-agent");
const token = Pkcs11Token.open({
  modulePath: SOFTHSM_MODULE,
  token: { label: hsm.label },
  pin: { file: hsm.pinFile },
});
const td = await enrollTokenDevice({
  token,
  curve: "p256",
  label: "bench-agent-p256",
  ca,
  registry: {
    wallet: infra.stack.operator,
    publicClient: infra.stack.publicClient,
    registry: infra.stack.contracts.oracle,
  },
  validFrom: Math.floor(Date.now() / 1000) - 3600,
});
certificates.add(td.certPem);
const tokenAgent = new DeviceAgent({
  deviceName: td.name,
  signer: token.signer("p256", td.readingLabel),
  domain: site.domain,
  mqtt: {
    url: site.brokerUrl,
    secureContext: tokenTlsContext({
      ca: ca.certPem,
      cert: td.certPem,
      token: hsm.label,
      keyLabel: td.tlsLabel,
      pinFile: hsm.pinFile,
    }),
  },
  feeds: [FEED],
  outbox: { path: join(dir, "live-token.db") },
});
await tokenAgent.start();
const tokenMs = await liveRun(tokenAgent);
token.close();
hsm.cleanup();
log(`  all acknowledged after ${(tokenMs / 1000).toFixed(1)} s`);

log(
  `backlog: ${fmt(BACKLOG)} readings into an outbox while offline, then drained (agent in its own process)`,
);
const backlogDevice = await device();
// The shipped form: the package's compiled JavaScript under plain node, with the V8 flags the
// systemd unit gives the agent (a small young generation, old space capped: the heap in use stays
// near 10 MB, and without them V8 lets it grow to 50 MB of pages while signing a backlog; no
// optimizing compiler: docs/BENCHMARKS.md, "What the agent's memory is made of").
log("  building dist/ (npm run build): the agent runs as the installed package does");
const built = spawnSync(process.execPath, ["scripts/build-package.mjs"], {
  stdio: ["ignore", "ignore", "inherit"],
});
if (built.status !== 0) throw new Error("npm run build failed");
// agent-drain.ts as plain JavaScript: node's own type stripping would load its TypeScript
// parser (WebAssembly, some 15 MB) into the process being measured.
const drainScript = join(dir, "agent-drain.mjs");
writeFileSync(drainScript, stripTypeScriptTypes(readFileSync("bench/agent-drain.ts", "utf8")));
const child = spawn(
  process.execPath,
  [
    "--expose-gc",
    ...AGENT_NODE_FLAGS,
    drainScript,
    JSON.stringify({
      device: {
        ...backlogDevice,
        readingSecretKey: Buffer.from(backlogDevice.readingSecretKey).toString("hex"),
      },
      brokerUrl: site.brokerUrl,
      caPem: site.caPem,
      domain: { chainId: Number(site.domain.chainId), registry: site.domain.registry },
      outboxPath: join(dir, "backlog.db"),
      count: BACKLOG,
      root: join(process.cwd(), "dist"),
      ...(WINDOW === undefined ? {} : { maxInFlight: WINDOW }),
    }),
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const results: Record<string, number> = {};
let buf = "";
child.stdout.on("data", (d: Buffer) => {
  buf += d.toString();
  const lines = buf.split("\n");
  buf = lines.pop() ?? "";
  for (const l of lines) {
    const o = JSON.parse(l) as Record<string, number>;
    if ("filled" in o) log(`  ${fmt(o.filled as number)} taken`);
    else if ("left" in o) log(`  ${fmt(o.left as number)} left`);
    else Object.assign(results, o);
  }
});
const code = await new Promise<number | null>((r) => child.once("exit", r));
if (code !== 0) throw new Error(`drain child exited ${code}`);
log("committing and counting");
await bridge.flush();
const counted = await commitCounts(
  store,
  backlogDevice.name,
  Array.from({ length: BACKLOG }, (_, i) => BigInt(i + 1)),
);
await bridge.stop();
await store.close();
await Promise.all([infra.broker.stop(), infra.redis.stop(), infra.stack.close()]);
rmSync(dir, { recursive: true, force: true });

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const drainRate = BACKLOG / ((results.drainMs as number) / 1000);
const table = [
  `Measured by \`npm run bench:agent\` on ${new Date().toISOString().slice(0, 10)} (2-core machine shared with other work): the outbox on ext4 (SQLite via node:sqlite, WAL, synchronous FULL: every commit fsync'd); Mosquitto (mTLS, the fleet ACL), Redis and the in-process chain, the bridge in the benchmark's process; P-256 devices with the software key (node:crypto, OpenSSL). SoftHSM2 2.6 for the token row.`,
  "",
  "| what | figure |",
  "|---|---:|",
  `| outbox, one reading per transaction (fsync each) | ${singleUs.toFixed(0)} µs/reading |`,
  `| outbox, 100 readings per transaction (readings taken in the same turn share one) | ${batchedUs.toFixed(1)} µs/reading |`,
  `| live, software key: ${fmt(LIVE)} readings taken (32 at a time), signed, stored and published, all acknowledged | ${fmt(LIVE / (liveMs / 1000))} readings/s (${(liveMs / 1000).toFixed(1)} s) |`,
  `| live, SoftHSM2 (PKCS#11 signing, TLS key in the token): the same | ${fmt(LIVE / (tokenMs / 1000))} readings/s (${(tokenMs / 1000).toFixed(1)} s) |`,
  `| backlog: ${fmt(BACKLOG)} readings taken into the outbox while offline (sign + store) | ${fmt(BACKLOG / ((results.fillMs as number) / 1000))} readings/s (${((results.fillMs as number) / 1000).toFixed(0)} s; outbox files ${mb(results.fileBytes as number)}) |`,
  `| backlog drained to the bridge (connect to outbox empty, window ${WINDOW ?? "32 growing to 256, the default"}) | ${((results.drainMs as number) / 1000).toFixed(1)} s, ${fmt(drainRate)} readings/s (goal ≥ 2,000/s: ${drainRate >= 2_000 ? "✓" : "✗"}) |`,
  `| backlog committed once / twice / lost | ${fmt(counted.once)} / ${counted.twice} / ${counted.lost.length} |`,
  `| agent process RSS, modules loaded and outbox empty (Node 22, the compiled package's agent modules only: mqtt, prom-client, @noble/hashes, node:sqlite; node ${AGENT_NODE_FLAGS.join(" ")}) | ${mb(results.rssEmpty as number)} (V8 heap in use ${mb(results.heapEmpty as number)}) |`,
  `| agent process RSS with the backlog in its outbox (after filling) | ${mb(results.rssAfterFill as number)} (V8 heap in use ${mb(results.heapAfterFill as number)}) |`,
  `| agent process RSS, peak while draining | ${mb(results.peakRss as number)} (goal ≤ 80 MB: ${(results.peakRss as number) <= 80 * 1024 * 1024 ? "✓" : "✗"}; the backlog's own share: ${mb((results.peakRss as number) - (results.rssEmpty as number))}) |`,
].join("\n");
console.log(table);
const path = writeBenchSection("agent", "The device agent (`npm run bench:agent`)", table);
console.log(
  `bench:agent done in ${((Date.now() - started) / 1000).toFixed(0)} s: outbox ${singleUs.toFixed(0)} µs/reading (${batchedUs.toFixed(1)} batched), live ${fmt(LIVE / (liveMs / 1000))}/s (SoftHSM2 ${fmt(LIVE / (tokenMs / 1000))}/s), backlog of ${fmt(BACKLOG)} drained at ${fmt(drainRate)}/s, peak RSS ${mb(results.peakRss as number)}; written to ${path}`,
);
process.exit(counted.once === BACKLOG ? 0 : 1);
