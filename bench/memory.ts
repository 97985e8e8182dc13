// The bridge's resident memory at steady state with 1,000 devices publishing: the bridge runs as
// its own process (bridge/server.ts) against hardhat node over HTTP, Mosquitto and Redis; the
// devices connect from another process. Samples /proc/<pid>/status VmRSS once a second.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateFingerprint } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { createFleetCa } from "../pki/fleet-ca.js";
import { feedIdOf, splitPublicKey } from "../protocol/index.js";
import { deployOverHttp } from "../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../testkit/infra.js";
import { freePort } from "../testkit/ports.js";
import { presign } from "./ingest.js";
import { envNumber, log } from "./report.js";

const DEVICES = envNumber("BENCH_MEMORY_DEVICES", 1000);
const INTERVAL_MS = envNumber("BENCH_MEMORY_INTERVAL_MS", 2000);
const SECONDS = envNumber("BENCH_MEMORY_SECONDS", 40);

/** The V8 flags `npm run bridge` gives node (package.json), so this measures what operators run. */
export const BRIDGE_NODE_FLAGS = (
  JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { bridge: string } }
).scripts.bridge
  .split(/\s+/)
  .filter((a) => a.startsWith("--max-"));

export type MemoryResult = {
  devices: number;
  rate: number;
  steadyMb: number;
  maxMb: number;
  accepted: number;
};

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
};

export async function benchMemory(): Promise<MemoryResult> {
  log(`memory: ${DEVICES} devices, one reading each every ${INTERVAL_MS} ms, for ${SECONDS} s`);
  const dir = mkdtempSync(join(tmpdir(), "so-bench-mem-"));
  const ca = await createFleetCa();
  const { bridgeCert, node, redis, broker } = await startProcessInfra(ca);
  const children: ChildProcess[] = [];
  try {
    const contracts = await deployOverHttp(node);
    const domain = { chainId: 31337, registry: contracts.oracle };
    const feedId = feedIdOf("memory");
    mkdirSync(join(dir, "devices"));
    log(`  issuing and registering ${DEVICES} devices`);
    const jobDevices = [];
    const regs = [];
    const perDevice = Math.ceil((SECONDS * 1000) / INTERVAL_MS) + 5;
    const _now = BigInt(Math.floor(Date.now() / 1000));
    for (let i = 0; i < DEVICES; i++) {
      const d = await ca.issueDevice({ curve: "p256" });
      writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
      const { x, y } = splitPublicKey(d.readingPublicKey);
      regs.push({
        deviceId: d.deviceId,
        curve: 2,
        x,
        y,
        certFingerprint: certificateFingerprint(d.certPem),
        validFrom: 1,
      });
      const { payloads } = presign(d, domain, feedId, perDevice);
      jobDevices.push({ name: d.name, cert: d.certPem, key: d.keyPem, payloads });
    }
    for (let i = 0; i < regs.length; i += 100) {
      const hash = await node.admin.writeContract({
        address: contracts.oracle,
        abi: sensorOracleAbi,
        functionName: "registerBatch",
        args: [regs.slice(i, i + 100)],
      });
      await node.admin.waitForTransactionReceipt({ hash });
    }
    const httpPort = await freePort();
    const config = writeBridgeConfig(
      dir,
      ca,
      { bridgeCert, broker, redis: { url: redis.url, prefix: "mem" }, rpcUrl: node.url, contracts },
      { batch: { intervalMs: 2000, maxSize: 4096 }, http: { port: httpPort }, logLevel: "warn" },
    );
    // As `npm run bridge` runs it, with its V8 flags: a bounded old space (without it V8 on a large
    // machine collects lazily and RSS grew to 440 MB here, heap in use 243 MB) and small young
    // semi-spaces (measured: 258 MB steady RSS with the default, 239 MB with 4 MB).
    const bridge = spawn(
      process.execPath,
      [...BRIDGE_NODE_FLAGS, "--import", "tsx", "bridge/server.ts", config],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    children.push(bridge);
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok) break;
      } catch {}
      if (i > 300) throw new Error("bridge did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
    const jobFile = join(dir, "job.json"); // the devices' keys: owner only
    writeFileSync(
      jobFile,
      JSON.stringify({ url: broker.url, ca: ca.certPem, intervalMs: INTERVAL_MS, devices: jobDevices }),
      { mode: 0o600 },
    );
    const publisher = spawn(process.execPath, ["--import", "tsx", "bench/publisher-steady.ts", jobFile], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(publisher);
    await new Promise<void>((resolve) =>
      publisher.stdout?.on("data", (d) => String(d).includes("connected") && resolve()),
    );
    log(`  ${DEVICES} devices connected; sampling the bridge's RSS`);
    const samples: number[] = [];
    for (let s = 0; s < SECONDS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(rssMb(bridge.pid as number));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const accepted = Number(/sensor_oracle_readings_accepted_total (\d+)/.exec(metrics)?.[1] ?? 0);
    const heapMb = Number(/nodejs_heap_size_used_bytes (\d+)/.exec(metrics)?.[1] ?? 0) / 1048576;
    log(`  V8 heap in use at the end: ${heapMb.toFixed(0)} MB`);
    publisher.stdin?.end();
    const steady = samples.slice(Math.floor(samples.length / 2));
    const result = {
      devices: DEVICES,
      rate: DEVICES / (INTERVAL_MS / 1000),
      steadyMb: steady.reduce((a, b) => a + b, 0) / steady.length,
      maxMb: Math.max(...samples),
      accepted,
    };
    log(
      `  steady RSS ${result.steadyMb.toFixed(0)} MB, max ${result.maxMb.toFixed(0)} MB, ${accepted} readings accepted`,
    );
    return result;
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await Promise.all([broker.stop(), redis.stop()]);
    node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
