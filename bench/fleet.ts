// npm run bench:fleet — a large fleet: BENCH_FLEET_DEVICES certificates issued by the fleet CA
// (pki/fleet-ca.ts) and registered on-chain (registerBatch), all in the bridge's certificate folder;
// BENCH_FLEET_CONNECTED of them connected over mTLS and publishing BENCH_FLEET_PER_DEVICE
// pre-signed readings each (half P-256, half secp256k1: as many distinct keys as devices).
// Measures issuance, registration (time, gas per device), the bridge's start-up time and resident
// memory with the whole folder, and its ingest rate; prints a table and writes docs/BENCHMARKS.md.
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Hex } from "viem";
import { certificateFingerprint } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { createFleetCa, type IssuedDevice, loadFleetCa } from "../pki/fleet-ca.js";
import { Curve, feedIdOf, splitPublicKey } from "../protocol/index.js";
import { deployOverHttp } from "../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../testkit/infra.js";
import { freePort } from "../testkit/ports.js";
import { presign } from "./ingest.js";
import { BRIDGE_NODE_FLAGS } from "./memory.js";
import { envNumber, log, writeBenchSection } from "./report.js";

const DEVICES = envNumber("BENCH_FLEET_DEVICES", 10_000);
const CONNECTED = Math.min(DEVICES, envNumber("BENCH_FLEET_CONNECTED", 1_000));
const PER_DEVICE = envNumber("BENCH_FLEET_PER_DEVICE", 20);
const REGISTER_CHUNK = 100;
/** Seconds without a reading accepted after which the ingest is taken as over. */
const STALL_SECONDS = 20;
/** Devices a publisher process connects, at most. */
const PUBLISHER_DEVICES = 1_000;
/**
 * Set to a folder: the fleet CA, the certificates and the connected devices' keys are kept there
 * (test keys, mode 0600) and taken from there by the next run with the same numbers, which then
 * skips issuing (100,000 certificates take minutes). The chain is new each run: it registers again.
 */
const REUSE_DIR = process.env.BENCH_FLEET_REUSE_DIR;
/** Set: the bridge's --max-old-space-size in MB instead of `npm run bridge`'s (to see what it needs). */
const OLD_SPACE_MB = process.env.BENCH_FLEET_OLD_SPACE_MB;
const BRIDGE_FLAGS = OLD_SPACE_MB
  ? [
      ...BRIDGE_NODE_FLAGS.filter((f) => !f.startsWith("--max-old-space-size")),
      `--max-old-space-size=${OLD_SPACE_MB}`,
    ]
  : BRIDGE_NODE_FLAGS;
/** Set to a folder: the bridge writes a heap snapshot there after ingest (--heapsnapshot-signal). */
const HEAP_SNAPSHOT_DIR = process.env.BENCH_FLEET_HEAP_SNAPSHOT_DIR;

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
};
const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** The bridge's heap (used, of total) and external memory in MB, from its /metrics. */
async function heapOf(metricsUrl: string): Promise<string> {
  const m = await (await fetch(metricsUrl)).text();
  const mb = (name: string) =>
    Number(new RegExp(`^${name} (\\S+)`, "m").exec(m)?.[1] ?? Number.NaN) / 2 ** 20;
  return `heap ${mb("nodejs_heap_size_used_bytes").toFixed(0)} of ${mb("nodejs_heap_size_total_bytes").toFixed(0)} MB, external ${mb("nodejs_external_memory_bytes").toFixed(0)} MB`;
}

type Registration = { deviceId: Hex; curve: number; x: Hex; y: Hex; certFingerprint: Hex; validFrom: number };
/** What a run keeps in REUSE_DIR/fleet.json (the certificates are in REUSE_DIR/devices, the CA in REUSE_DIR/ca). */
type KeptFleet = {
  devices: number;
  regs: Registration[];
  connected: (Omit<IssuedDevice, "readingSecretKey" | "readingPublicKey"> & {
    readingSecretKey: string;
    readingPublicKey: string;
  })[];
};
const kept: KeptFleet | null = (() => {
  if (!REUSE_DIR || !existsSync(join(REUSE_DIR, "fleet.json"))) return null;
  const k = JSON.parse(readFileSync(join(REUSE_DIR, "fleet.json"), "utf8")) as KeptFleet;
  return k.devices === DEVICES && k.connected.length >= CONNECTED ? k : null;
})();

const started = performance.now();
const load0 = loadavg()[0] ?? 0;
const dir = mkdtempSync(join(tmpdir(), "so-bench-fleet-"));
const ca = kept && REUSE_DIR ? await loadFleetCa(join(REUSE_DIR, "ca")) : await createFleetCa();
// Room for every connected device and the bridge (the generated config's max_connections is 10,000).
const { bridgeCert, node, redis, broker } = await startProcessInfra(ca, {
  maxConnections: Math.max(10_000, CONNECTED + 100),
});
const children: ChildProcess[] = [];
try {
  const contracts = await deployOverHttp(node);
  const domain = { chainId: 31337, registry: contracts.oracle };
  const feedId = feedIdOf("fleet");
  const t0 = performance.now();
  const connected: IssuedDevice[] = [];
  const regs: Registration[] = [];
  if (kept && REUSE_DIR) {
    log(`fleet: ${DEVICES} device certificates as issued before, from ${REUSE_DIR}`);
    symlinkSync(join(REUSE_DIR, "devices"), join(dir, "devices"));
    regs.push(...kept.regs);
    for (const d of kept.connected.slice(0, CONNECTED))
      connected.push({
        ...d,
        readingSecretKey: Buffer.from(d.readingSecretKey, "hex"),
        readingPublicKey: Buffer.from(d.readingPublicKey, "hex"),
      });
  } else {
    mkdirSync(join(dir, "devices"));
    log(`fleet: issuing ${DEVICES} device certificates (half P-256, half secp256k1)`);
  }
  for (let i = kept ? DEVICES : 0; i < DEVICES; i++) {
    const d = await ca.issueDevice({ curve: i % 2 ? "secp256k1" : "p256" });
    writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
    const { x, y } = splitPublicKey(d.readingPublicKey);
    regs.push({
      deviceId: d.deviceId,
      curve: Curve[d.curve],
      x,
      y,
      certFingerprint: certificateFingerprint(d.certPem),
      validFrom: 1,
    });
    if (connected.length < CONNECTED) connected.push(d);
    if ((i + 1) % 1000 === 0) log(`  ${i + 1} issued`);
  }
  const issueSec = seconds(t0);
  if (REUSE_DIR && !kept) {
    rmSync(REUSE_DIR, { recursive: true, force: true });
    mkdirSync(REUSE_DIR, { recursive: true, mode: 0o700 });
    // The bench's own throwaway CA: its root key is encrypted under a passphrase of this run's making.
    await ca.save(join(REUSE_DIR, "ca"), {
      rootPassphrase: process.env.SO_CA_PASSPHRASE ?? "sensor-oracle bench fleet",
    });
    const keep: KeptFleet = {
      devices: DEVICES,
      regs,
      connected: connected.map((d) => ({
        ...d,
        readingSecretKey: Buffer.from(d.readingSecretKey).toString("hex"),
        readingPublicKey: Buffer.from(d.readingPublicKey).toString("hex"),
      })),
    };
    writeFileSync(join(REUSE_DIR, "fleet.json"), JSON.stringify(keep), { mode: 0o600 });
    renameSync(join(dir, "devices"), join(REUSE_DIR, "devices"));
    symlinkSync(join(REUSE_DIR, "devices"), join(dir, "devices"));
    log(`  kept in ${REUSE_DIR} for the next run (BENCH_FLEET_REUSE_DIR)`);
  }

  log(`  registering ${DEVICES} devices on-chain (registerBatch, ${REGISTER_CHUNK} a transaction)`);
  const t1 = performance.now();
  let gas = 0n;
  for (let i = 0; i < regs.length; i += REGISTER_CHUNK) {
    const hash = await node.admin.writeContract({
      address: contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "registerBatch",
      args: [regs.slice(i, i + REGISTER_CHUNK)],
    });
    gas += (await node.admin.waitForTransactionReceipt({ hash })).gasUsed;
    if ((i + REGISTER_CHUNK) % 1000 === 0) log(`  ${i + REGISTER_CHUNK} registered`);
  }
  const registerSec = seconds(t1);

  log(`  pre-signing ${PER_DEVICE} readings for each of ${CONNECTED} connected devices`);
  const job = connected.map((d) => ({
    name: d.name,
    cert: d.certPem,
    key: d.keyPem,
    payloads: presign(d, domain, feedId, PER_DEVICE).payloads,
  }));
  // One publisher process per PUBLISHER_DEVICES devices, started one after another: 10,000 TLS
  // handshakes at once overflow the broker's listen queue (the publisher got ECONNRESET).
  const jobFiles: string[] = [];
  for (let i = 0; i < job.length; i += PUBLISHER_DEVICES) {
    const jobFile = join(dir, `job-${i}.json`);
    const devices = job.slice(i, i + PUBLISHER_DEVICES);
    writeFileSync(jobFile, JSON.stringify({ url: broker.url, ca: ca.certPem, devices }), { mode: 0o600 });
    jobFiles.push(jobFile);
  }

  const httpPort = await freePort();
  const config = writeBridgeConfig(
    dir,
    ca,
    { bridgeCert, broker, redis: { url: redis.url, prefix: "fleet" }, rpcUrl: node.url, contracts },
    {
      batch: { intervalMs: 2000, maxSize: 4096 },
      http: { port: httpPort },
      rateLimit: { perSecond: 1000, burst: 1000 },
      logLevel: "info",
    },
  );
  log(`  starting the bridge with ${DEVICES} certificates in its folder`);
  const t2 = performance.now();
  const bridge = spawn(
    process.execPath,
    [
      ...BRIDGE_FLAGS,
      ...(HEAP_SNAPSHOT_DIR
        ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${HEAP_SNAPSHOT_DIR}`]
        : []),
      "--import",
      "tsx",
      "bridge/server.ts",
      config,
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.push(bridge);
  let loadMs = Number.NaN;
  /** The bridge's warnings and errors, by message: what went wrong, if anything did. */
  const warnings = new Map<string, number>();
  let partial = "";
  bridge.stdout?.on("data", (b: Buffer) => {
    const lines = (partial + b.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.includes("device certificates loaded")) loadMs = JSON.parse(line).ms as number;
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: string | { message?: string } };
      const err = typeof entry.err === "string" ? entry.err : entry.err?.message;
      const what = `${entry.msg ?? ""}${err ? ` (${err})` : ""}`;
      if ((entry.level ?? 0) >= 40) warnings.set(what, (warnings.get(what) ?? 0) + 1);
    }
  });
  let exited: string | null = null;
  bridge.once("exit", (code, signal) => {
    exited = `code ${code}, signal ${signal}`;
  });
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`the bridge exited before it was ready (${exited}): see its output above`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 3000) throw new Error("bridge not ready within 300 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  const startSec = seconds(t2);
  const readyRss = rssMb(bridge.pid as number);
  const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
  const readyHeap = await heapOf(metricsUrl);
  log(`  ready in ${startSec.toFixed(1)} s: RSS ${readyRss.toFixed(0)} MB, ${readyHeap}`);

  log(`  ${CONNECTED} devices connecting and publishing ${CONNECTED * PER_DEVICE} readings`);
  const publishers: ChildProcess[] = [];
  for (const jobFile of jobFiles) {
    const publisher = spawn(process.execPath, ["--import", "tsx", "bench/publisher.ts", jobFile], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(publisher);
    publishers.push(publisher);
    await new Promise<void>((resolve, reject) => {
      publisher.stdout?.on("data", (d) => String(d).includes("ready") && resolve());
      publisher.once("exit", (code) =>
        reject(new Error(`a publisher exited before it was connected (code ${code})`)),
      );
    });
    if (jobFiles.length > 1) log(`  ${Math.min(publishers.length * PUBLISHER_DEVICES, CONNECTED)} connected`);
  }
  const accepted = async () => {
    const m = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    return Number(/sensor_oracle_readings_accepted_total (\d+)/.exec(m)?.[1] ?? 0);
  };
  const total = CONNECTED * PER_DEVICE;
  for (const publisher of publishers) publisher.stdin?.write("go\n");
  const t3 = performance.now();
  let maxRss = readyRss;
  let n = 0;
  // Until every reading is accepted, or none more for STALL_SECONDS (the publishers do not send
  // again what was not acknowledged: a reading the broker dropped never comes). The rate is over
  // the time until the last one accepted.
  let lastChange = t3;
  while (n < total && seconds(t3) < 300 && seconds(lastChange) < STALL_SECONDS) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await accepted();
    if (now !== n) lastChange = performance.now();
    n = now;
    maxRss = Math.max(maxRss, rssMb(bridge.pid as number));
  }
  const stalled = n < total;
  const ingestSec = (lastChange - t3) / 1000;
  const rate = n / ingestSec;
  if (stalled) log(`  no reading accepted for ${STALL_SECONDS} s: ${n} of ${total}`);
  for (const [msg, count] of warnings) log(`  bridge warned ${count} times: ${msg}`);
  const load1 = loadavg()[0] ?? 0;
  const ingestHeap = await heapOf(metricsUrl);
  if (HEAP_SNAPSHOT_DIR) {
    bridge.kill("SIGUSR2");
    log(`  heap snapshot asked for, written to ${HEAP_SNAPSHOT_DIR}`);
    // Written when its size stops changing (the bridge pauses while it writes).
    let last = -1;
    for (let i = 0; i < 240; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      const f = readdirSync(HEAP_SNAPSHOT_DIR).find((n) => n.endsWith(".heapsnapshot"));
      const size = f ? statSync(join(HEAP_SNAPSHOT_DIR, f)).size : -1;
      if (size > 0 && size === last) break;
      last = size;
    }
  }

  const table = [
    `Measured by \`npm run bench:fleet\` on ${new Date().toISOString().slice(0, 10)} (2-core machine shared with other work: load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end): BENCH_FLEET_DEVICES=${DEVICES} certificates issued and registered, BENCH_FLEET_CONNECTED=${CONNECTED} connected, ${PER_DEVICE} readings each (half P-256, half secp256k1, every device its own key). The bridge runs as \`npm run bridge\` does (${BRIDGE_FLAGS.join(" ")}${OLD_SPACE_MB ? `: heap cap raised by BENCH_FLEET_OLD_SPACE_MB, \`npm run bridge\` gives ${BRIDGE_NODE_FLAGS.join(" ")}` : ""}), against hardhat node over HTTP, Mosquitto (mTLS) and Redis.`,
    "",
    "| step | result |",
    "|---|---|",
    kept
      ? `| issue ${DEVICES} certificates | issued by an earlier run (BENCH_FLEET_REUSE_DIR) |`
      : `| issue ${DEVICES} certificates (pki/fleet-ca.ts, one at a time) | ${issueSec.toFixed(1)} s (${((1000 * issueSec) / DEVICES).toFixed(1)} ms each) |`,
    `| register ${DEVICES} devices (registerBatch, ${REGISTER_CHUNK} a transaction) | ${registerSec.toFixed(1)} s, ${(gas / BigInt(DEVICES)).toString()} gas per device |`,
    `| bridge start-up to ready, ${DEVICES} certificates in its folder | ${startSec.toFixed(1)} s (loading the folder: ${loadMs} ms) |`,
    `| bridge RSS when ready | ${readyRss.toFixed(0)} MB (${readyHeap}) |`,
    `| ingest, ${CONNECTED} devices publishing at once (readings accepted / s) | ${rate.toFixed(0)}/s (${n} of ${total} in ${ingestSec.toFixed(1)} s${stalled ? `; none more in the next ${STALL_SECONDS} s` : ""}) |`,
    `| bridge max RSS while ingesting | ${maxRss.toFixed(0)} MB (target ≤ 300 MB ${maxRss <= 300 ? "✓" : "✗"}; after: ${ingestHeap}) |`,
  ].join("\n");
  console.log(table);
  const path = writeBenchSection("fleet", "Fleet (`npm run bench:fleet`)", table);
  console.log(
    `bench:fleet done in ${seconds(started).toFixed(0)} s: ${DEVICES} certificates, start-up ${startSec.toFixed(1)} s, RSS ${readyRss.toFixed(0)}/${maxRss.toFixed(0)} MB, ingest ${rate.toFixed(0)}/s from ${CONNECTED} devices; written to ${path}`,
  );
} finally {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all([broker.stop(), redis.stop()]);
  node.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
