// npm run bench:soak — the bridge for a long run at a steady rate: Redis memory over time (flat
// after warm-up), bytes per reading in Redis and in the archive, the bridge's RSS, every reading
// committed and in the archive at the end (a sample served by HTTP with a proof that holds), and
// p99 from signing to the commit. BENCH_SOAK_SECONDS (default 3600), BENCH_SOAK_RATE (readings/s,
// default 1000), BENCH_SOAK_DEVICES (default 100), BENCH_SOAK_ARCHIVE (sqlite | postgres),
// BENCH_SOAK_HOT_SECONDS (archived batches kept in Redis, default 30). Writes docs/BENCHMARKS.md.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Redis } from "ioredis";
import type { Hex } from "viem";
import { PostgresArchive } from "../bridge/archive/postgres-archive.js";
import { SqliteArchive } from "../bridge/archive/sqlite-archive.js";
import type { Archive } from "../bridge/archive/types.js";
import { certificateFingerprint } from "../bridge/certificates.js";
import { toReading } from "../bridge/checks.js";
import type { StoredReading } from "../bridge/store/types.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { createFleetCa } from "../pki/fleet-ca.js";
import { feedIdOf, LEAF_TYPES, leafValues, splitPublicKey } from "../protocol/index.js";
import { deployOverHttp } from "../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../testkit/infra.js";
import { mineEvery } from "../testkit/mining.js";
import { freePort } from "../testkit/ports.js";
import { type PostgresService, startPostgres } from "../testkit/postgres.js";
import { BRIDGE_NODE_FLAGS } from "./memory.js";
import { envNumber, log, writeBenchSection } from "./report.js";

const SECONDS = envNumber("BENCH_SOAK_SECONDS", 3600);
const RATE = envNumber("BENCH_SOAK_RATE", 1000);
const DEVICES = envNumber("BENCH_SOAK_DEVICES", 100);
const HOT_SECONDS = envNumber("BENCH_SOAK_HOT_SECONDS", 30);
const ARCHIVE = (process.env.BENCH_SOAK_ARCHIVE ?? "sqlite") as "sqlite" | "postgres";
const BATCH_WINDOW_MS = 1000;
const BLOCK_MS = 1000;
const PROOF_SAMPLE = envNumber("BENCH_SOAK_PROOFS", 300);

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const mb = (b: number) => (b / 1048576).toFixed(1);

const started = Date.now();
log(
  `soak: ${RATE} readings/s from ${DEVICES} P-256 devices for ${SECONDS} s, ${ARCHIVE} archive, hot ${HOT_SECONDS} s`,
);
const dir = mkdtempSync(join(tmpdir(), "so-bench-soak-"));
const ca = await createFleetCa();
const [{ bridgeCert, node, redis, broker }, pg] = await Promise.all([
  startProcessInfra(ca),
  ARCHIVE === "postgres" ? startPostgres() : Promise.resolve(null as PostgresService | null),
]);
const children: ChildProcess[] = [];
let exitCode = 0;
try {
  const contracts = await deployOverHttp(node);
  const domain = { chainId: 31337, registry: contracts.oracle };
  const feedId = feedIdOf("soak");
  mkdirSync(join(dir, "devices"));
  log(`  issuing and registering ${DEVICES} devices`);
  const jobDevices = [];
  const regs = [];
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
    jobDevices.push({ name: d.name, deviceId: d.deviceId, cert: d.certPem, key: d.keyPem });
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
  await mineEvery(node.publicClient, BLOCK_MS);
  const httpPort = await freePort();
  const archivePath = join(dir, "data", "archive.sqlite");
  const config = writeBridgeConfig(
    dir,
    ca,
    { bridgeCert, broker, redis: { url: redis.url, prefix: "soak" }, rpcUrl: node.url, contracts },
    {
      batch: { intervalMs: BATCH_WINDOW_MS, maxSize: 4096 },
      http: { port: httpPort, requestsPerMinute: 1_000_000 },
      rateLimit: { perSecond: 1000, burst: 2000 },
      archive:
        ARCHIVE === "postgres"
          ? { kind: "postgres", url: pg?.url, hotSeconds: HOT_SECONDS }
          : { kind: "sqlite", path: archivePath, hotSeconds: HOT_SECONDS },
      logLevel: "info",
    },
  );
  const bridge = spawn(
    process.execPath,
    [...BRIDGE_NODE_FLAGS, "--import", "tsx", "bridge/server.ts", config],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.push(bridge);
  // Commit times of batches, from the bridge's log (pino: time in ms).
  const committedAt = new Map<string, number>();
  let buf = "";
  bridge.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    for (const l of lines) {
      // The bridge's errors (pino level 50 and up) go to this run's output: why a run failed.
      if (/"level":(5|6)\d/.test(l)) log(`  bridge: ${l.slice(0, 600)}`);
      if (!l.includes('"batch committed"')) continue;
      const j = JSON.parse(l) as { root: string; time: number };
      committedAt.set(j.root, j.time);
    }
  });
  let bridgeExit: string | undefined;
  bridge.once("exit", (code, signal) => {
    bridgeExit = `code ${code}, signal ${signal}`;
    log(`  the bridge exited (${bridgeExit})`);
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok) break;
    } catch {}
    if (i > 600) throw new Error("bridge did not become ready");
    await new Promise((r) => setTimeout(r, 100));
  }
  const jobFile = join(dir, "job.json"); // the devices' keys: owner only
  const sampleEvery = Math.max(1, Math.floor((RATE * SECONDS) / 20_000));
  writeFileSync(
    jobFile,
    JSON.stringify({
      url: broker.url,
      ca: ca.certPem,
      rate: RATE,
      seconds: SECONDS,
      feedId,
      domain,
      sampleEvery,
      devices: jobDevices,
    }),
    { mode: 0o600 },
  );
  const publisher = spawn(process.execPath, ["--import", "tsx", "bench/publisher-soak.ts", jobFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(publisher);
  let pubBuf = "";
  let sent = 0;
  let final: { sent: number; sample: [string, number][]; sequences: [string, string][] } | null = null;
  const published = new Promise<void>((resolve) => {
    publisher.stdout?.on("data", (d: Buffer) => {
      pubBuf += d.toString();
      const lines = pubBuf.split("\n");
      pubBuf = lines.pop() ?? "";
      for (const l of lines) {
        if (!l.startsWith("{")) continue;
        const j = JSON.parse(l) as { sent: number; sample?: [string, number][] };
        sent = j.sent;
        if (j.sample) final = j as typeof final;
      }
    });
    // "close": after its output is read to the end, not only after it exited.
    publisher.once("close", () => resolve());
  });

  const probe = new Redis(redis.url);
  const redisBytes = async () => Number(/used_memory:(\d+)/.exec(await probe.info("memory"))?.[1] ?? 0);
  const baseline = await redisBytes();
  type Sample = {
    t: number;
    redis: number;
    rss: number;
    sent: number;
    hot: number;
    queued: number;
    lag: number;
  };
  const gauge = async (name: string) => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? 0);
    } catch {
      return -1;
    }
  };
  const samples: Sample[] = [];
  const every = Math.max(5, Math.floor(SECONDS / 30));
  const t0 = Date.now();
  let publishing = true;
  void published.then(() => {
    publishing = false;
  });
  while (publishing) {
    await new Promise((r) => setTimeout(r, 1000));
    const t = Math.round((Date.now() - t0) / 1000);
    if (t % every === 0 || !publishing) {
      const s = {
        t,
        redis: await redisBytes(),
        rss: rssMb(bridge.pid as number),
        sent,
        hot: await probe.hlen("soak:readings"),
        queued: await gauge("sensor_oracle_queue_depth"),
        lag: await gauge("sensor_oracle_archive_lag_readings"),
        unfinal: await probe.scard("soak:unfinalized"),
        hotBatches: await probe.zcard("soak:archived"),
      };
      samples.push(s);
      log(
        `  ${t} s: sent ${s.sent}, Redis ${mb(s.redis)} MB (${s.hot} readings in Redis: ${s.queued} queued, ${s.unfinal} batches unfinal, ${s.lag} waiting for the archive, ${s.hotBatches} batches archived and hot), bridge RSS ${s.rss.toFixed(0)} MB`,
      );
    }
  }
  await published;
  const result = final as { sent: number; sample: [string, number][]; sequences: [string, string][] } | null;
  if (!result) throw new Error("publisher ended without its report");
  log(`  published ${result.sent}; waiting for every reading to be committed and archived`);
  const doneAt = Date.now();

  const archive: Archive =
    ARCHIVE === "postgres"
      ? new PostgresArchive({ connection: pg?.url as string })
      : new SqliteArchive(archivePath);
  await archive.open();
  const metric = async (name: string) =>
    Number(
      new RegExp(`^${name} (\\d+)`, "m").exec(
        await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
      )?.[1] ?? 0,
    );
  let archived = 0;
  const deadline = Date.now() + 120_000 + HOT_SECONDS * 1000;
  for (;;) {
    archived = (await archive.stats()).readings;
    const accepted = await metric("sensor_oracle_readings_accepted_total");
    if (archived >= accepted && accepted >= result.sent) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const accepted = await metric("sensor_oracle_readings_accepted_total");
  log(
    `  ${archived} readings in the archive ${((Date.now() - doneAt) / 1000).toFixed(0)} s after the last was sent; checking them`,
  );
  // Redis at the end, once the hot period of the last batches is over: what it keeps per reading.
  const hotReadings = await probe.hlen("soak:readings");
  const hotBytes =
    (Number(await probe.memory("USAGE", "soak:readings", "SAMPLES", "0")) || 0) +
    (Number(await probe.memory("USAGE", "soak:root", "SAMPLES", "0")) || 0);
  const steadyRedis = samples.filter((s) => s.t >= Math.round(Math.min(60, SECONDS / 3)));
  const warm = steadyRedis.map((s) => s.redis);
  const stats = await archive.stats();

  // Every reading sent is in the archive; a sample is served by HTTP with a proof that holds.
  const ids = result.sequences.flatMap(([name, last]) =>
    Array.from({ length: Number(last) }, (_, i) => `${name}:${i + 1}`),
  );
  let missing = 0;
  for (let i = 0; i < ids.length; i += 5000) {
    const got = await archive.getReadings(ids.slice(i, i + 5000));
    missing += got.filter((r) => r === null).length;
  }
  // A random sample over HTTP, in batch order so that each batch's tree is rebuilt once.
  let proofsOk = 0;
  const drawn = Array.from(
    { length: Math.min(PROOF_SAMPLE, ids.length) },
    () => ids[Math.floor(Math.random() * ids.length)] as string,
  );
  const rootOf = new Map(
    (await archive.getReadings(drawn)).map((r, i) => [drawn[i] as string, r?.root ?? ""]),
  );
  const picks = [...drawn].sort((a, b) => (rootOf.get(a) ?? "").localeCompare(rootOf.get(b) ?? ""));
  let unanswered = 0;
  for (const id of picks) {
    let res: Response | undefined;
    // A network error is retried twice (a keep-alive connection the server closed as it was reused),
    // then counted; the run goes on and reports it.
    for (let attempt = 0; attempt < 3 && !res; attempt++) {
      try {
        res = await fetch(`http://127.0.0.1:${httpPort}/readings/${id}`);
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        log(
          `  /readings/${id}: ${(err as Error).message} (${cause?.code ?? ""} ${cause?.message ?? ""}); bridge ${bridgeExit ? `exited: ${bridgeExit}` : "running"}`,
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    if (!res) {
      unanswered += 1;
      continue;
    }
    if (res.status !== 200) {
      log(`  /readings/${id}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      continue;
    }
    const b = (await res.json()) as {
      status: string;
      reading: StoredReading;
      batch: { root: Hex };
      proof: Hex[];
    };
    if (
      b.status === "committed" &&
      StandardMerkleTree.verify(b.batch.root, [...LEAF_TYPES], leafValues(toReading(b.reading)), b.proof)
    )
      proofsOk += 1;
  }
  // Sign -> committed: the sample's signing times against the commit time of their batch.
  const latencies: number[] = [];
  for (const [id, signedAt] of result.sample) {
    const [r] = await archive.getReadings([id]);
    const at = r ? committedAt.get(r.root) : undefined;
    if (at !== undefined) latencies.push(at - signedAt);
  }
  await archive.close();
  probe.disconnect();

  const rss = samples.map((s) => s.rss);
  const steadyRss = samples.filter((s) => s.t >= SECONDS / 2).map((s) => s.rss);
  const target = BATCH_WINDOW_MS + 2 * BLOCK_MS;
  const redisGrowth = warm.length > 1 ? (warm.at(-1) as number) - (warm[0] as number) : 0;
  const lines = [
    `Measured by \`npm run bench:soak\` on ${new Date().toISOString().slice(0, 10)} (2-core machine shared with other jobs): **${SECONDS} s** at ${RATE} readings/s (${result.sent} readings) from ${DEVICES} P-256 devices through Mosquitto (mTLS) to one bridge process (bridge/server.ts, ${BRIDGE_NODE_FLAGS.join(" ")}), Redis (AOF always), hardhat node (a block a second), ${ARCHIVE} archive; archived batches kept in Redis for ${HOT_SECONDS} s. The issue's run is one hour (BENCH_SOAK_SECONDS=3600).`,
    "",
    "Redis memory and bridge RSS over time:",
    "",
    "| t (s) | readings sent | Redis used_memory | readings in Redis | of which queued | of which waiting for the archive | bridge RSS |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...samples.map(
      (s) =>
        `| ${s.t} | ${s.sent} | ${mb(s.redis)} MB | ${s.hot} | ${s.queued} | ${s.lag} | ${s.rss.toFixed(0)} MB |`,
    ),
    "",
    "| figure | value | target |",
    "|---|---:|---|",
    `| Redis used_memory after warm-up (t ≥ ${Math.round(Math.min(60, SECONDS / 3))} s): first → last | ${mb(warm[0] ?? 0)} → ${mb(warm.at(-1) ?? 0)} MB (${redisGrowth >= 0 ? "+" : ""}${mb(redisGrowth)} MB) | flat |`,
    `| Redis before the run (empty) | ${mb(baseline)} MB | — |`,
    `| bytes per reading kept hot in Redis (readings + root hashes, MEMORY USAGE) | ${hotReadings ? (hotBytes / hotReadings).toFixed(0) : "— (none hot at the end)"} | — |`,
    `| bytes per reading in the archive (${ARCHIVE}, tables and indexes) | ${stats.bytes && stats.readings ? (stats.bytes / stats.readings).toFixed(0) : "—"} | — |`,
    `| bridge RSS: steady (second half) / max | ${(steadyRss.reduce((a, b) => a + b, 0) / Math.max(1, steadyRss.length)).toFixed(0)} / ${Math.max(...rss).toFixed(0)} MB | ≤ 250 MB |`,
    `| readings published / accepted / in the archive | ${result.sent} / ${accepted} / ${stats.readings} | all |`,
    `| readings sent missing from the archive | ${missing} | 0 |`,
    `| random sample served by /readings/:id with a proof that holds | ${proofsOk} / ${picks.length}${unanswered ? ` (${unanswered} not answered: network error)` : ""} | all |`,
    `| sign → committed (${latencies.length} sampled readings): p50 / p99 / max | ${pct(latencies, 50).toFixed(0)} / ${pct(latencies, 99).toFixed(0)} / ${Math.max(...latencies).toFixed(0)} ms | p99 ≤ ${target} ms (window + 2 blocks) ${pct(latencies, 99) <= target ? "✓" : "✗"} |`,
  ];
  const table = lines.join("\n");
  console.log(table);
  const path = writeBenchSection("soak", "Soak (`npm run bench:soak`)", table);
  console.log(
    `soak done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${result.sent} readings, ${missing} missing from the archive, Redis ${mb(warm[0] ?? 0)} → ${mb(warm.at(-1) ?? 0)} MB after warm-up, bridge RSS max ${Math.max(...rss).toFixed(0)} MB, p99 sign → committed ${pct(latencies, 99).toFixed(0)} ms; written to ${path}`,
  );
  if (missing || proofsOk < picks.length) exitCode = 1;
} catch (err) {
  log(`soak failed: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all([broker.stop(), redis.stop(), pg?.stop()]);
  node.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
