// The bridge as a service: `sensor-oracle bridge run --config <config.json>`, or from the sources
// node bridge/server.ts <config.json>  (or SO_CONFIG=<file>; SO_* variables override).
import { readFileSync, realpathSync, statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { createChainClients } from "../chain/clients.js";
import { archiveFromConfig } from "./archive/open-archive.js";
import { startBridge } from "./bridge.js";
import { FleetCertificates } from "./certificates.js";
import { type BridgeConfig, loadConfig, readPrivateKey, readPushedFeeds, redactUrl } from "./config.js";
import { ConfigError } from "./errors.js";
import { createRedactor, type Redactor } from "./log/redact.js";
import { assertDurable, type DurabilityReport } from "./store/durability.js";
import { StoreNotDurableError } from "./store/errors.js";
import { RedisStore } from "./store/redis-store.js";
import { withinTime } from "./time-limit.js";

let redact: Redactor = (text) => text;

async function main(configFile: string | undefined): Promise<void> {
  const config = loadConfig(configFile);
  // The RPC URL (API keys in its path or query) and the Redis URL (a password) never reach the
  // log: viem and ioredis put the URL they called into their error messages.
  redact = createRedactor([config.chain.rpcUrl, config.redis.url]);
  const log = pino({ level: config.logLevel, hooks: { streamWrite: (line) => redact(line) } });
  warnIfReadableByOthers(config.chain.submitterKeyFile, "chain.submitterKeyFile", log);
  warnIfReadableByOthers(config.mqtt.keyFile, "mqtt.keyFile", log);
  const { publicClient, walletClient } = createChainClients({
    chainId: config.chain.chainId,
    rpcUrl: config.chain.rpcUrl,
    privateKey: readPrivateKey(config.chain.submitterKeyFile),
    pollingInterval: 500,
    retryCount: 3,
  });
  const certificates = new FleetCertificates(readFileSync(config.fleet.caFile, "utf8"));
  const started = performance.now();
  const first = certificates.scanDirectory(config.fleet.certificatesDir, { full: true });
  for (const f of first.failed) log.error({ file: f.file, error: f.error }, "certificate not loaded");
  const enrolled = first.files;
  log.info(
    { certificates: first.parsed, ms: Math.round(performance.now() - started) },
    "device certificates loaded",
  );
  // Enrolments and rotations add certificates to the folder: pick them up without a restart.
  // Every 5 s a quick scan (nothing is read unless the folder changed), every minute a full one
  // (a file rewritten in place); only new or changed files are parsed.
  let scans = 0;
  const reload = setInterval(() => {
    try {
      const r = certificates.scanDirectory(config.fleet.certificatesDir, { full: ++scans % 12 === 0 });
      for (const f of r.failed) log.error({ file: f.file, error: f.error }, "certificate not loaded");
      if (r.parsed || r.removed)
        log.info({ added: r.parsed, removed: r.removed }, "device certificates updated");
    } catch (err) {
      log.error({ err }, "certificates folder not reloaded");
    }
  }, 5_000);
  reload.unref();
  const stopCrl = config.fleet.crlFile
    ? certificates.followCrlFile(config.fleet.crlFile, (err) => log.error({ err }, "CRL not loaded"))
    : () => {};
  const store = new RedisStore({
    url: config.redis.url,
    prefix: config.redis.prefix,
    ...redisTls(config),
    ...(config.redis.sentinels
      ? { sentinels: config.redis.sentinels, name: config.redis.name as string }
      : {}),
    onError: (err) => log.warn({ err }, "Redis connection error; retrying"),
  });
  // A "queued" ack must mean the reading survives: refuse a Redis that would lose it, at start
  // and while running (AOF switched off, a restart without it, a replica promoted without it).
  // Redis may be down at start: readings are refused (answered `retry`) and /readyz says why
  // until its settings have been read; a Redis that answers but is not durable stops the start.
  let refusing: string | null = "Redis durability not checked yet (Redis unreachable)";
  store.refuseReadings(refusing);
  const readDurability = (ms: number) =>
    withinTime<DurabilityReport | null>(store.checkDurability(), ms, () => null).catch(() => null);
  // A Redis that answers now and is not durable stops the start before anything else is opened.
  const early = await readDurability(2_000);
  if (early) assertDurable(early);
  const firstDurability = (async () => {
    if (early) return early;
    for (let pauseMs = 1_000; ; pauseMs = Math.min(30_000, pauseMs * 2)) {
      const report = await readDurability(5_000);
      if (report) return report;
      log.warn({ retryInMs: pauseMs }, "Redis not reachable; readings refused until it is");
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  const bridge = await startBridge({
    mqtt: {
      url: config.mqtt.url,
      ca: readFileSync(config.mqtt.caFile, "utf8"),
      cert: readFileSync(config.mqtt.certFile, "utf8"),
      key: readFileSync(config.mqtt.keyFile, "utf8"),
      protocolVersion: config.mqtt.protocolVersion,
      keepaliveSec: config.mqtt.keepaliveSec,
      sessionExpirySec: config.mqtt.sessionExpirySec,
      ...(config.mqtt.shareGroup ? { shareGroup: config.mqtt.shareGroup } : {}),
    },
    certificates,
    store,
    // Committed batches move to the archive; PostgreSQL down at start: not ready, retried.
    archive: {
      archive: archiveFromConfig(config.archive, process.env, (err) =>
        log.warn({ err }, "archive connection error; retrying"),
      ),
      hotSeconds: config.archive.hotSeconds,
      maxLagReadings: config.archive.maxLagReadings,
      ...(config.archive.retentionDays !== undefined ? { retentionDays: config.archive.retentionDays } : {}),
    },
    publicClient,
    walletClient,
    contracts: { oracle: config.chain.oracle },
    chainId: config.chain.chainId,
    batchIntervalMs: config.batch.intervalMs,
    maxBatchSize: config.batch.maxSize,
    rateLimit: config.rateLimit,
    maxFutureSkewSec: config.maxFutureSkewSec,
    ...(config.push?.feedsContract && config.push.feedsFile
      ? { push: { address: config.push.feedsContract, feeds: readPushedFeeds(config.push.feedsFile) } }
      : {}),
    http: {
      host: config.http.host,
      port: config.http.port,
      ...(config.http.cors ? { cors: config.http.cors } : {}),
    },
    httpLimits: {
      requestsPerMinute: config.http.requestsPerMinute,
      maxConnections: config.http.maxConnections,
    },
    log,
    // Start in any order: HTTP answers now; MQTT, Redis and the chain are retried until up.
    waitForBroker: false,
    notReadyBecause: { durability: () => refusing },
  });
  log.info(
    { http: config.http.port, archive: config.archive.kind },
    "bridge listening; waiting for the broker, Redis and the chain",
  );
  let recheck: NodeJS.Timeout | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: draining in-flight work");
    const timer = setTimeout(() => {
      log.error("shutdown took longer than 30 s; exiting");
      process.exit(1);
    }, 30_000);
    stopCrl();
    if (recheck) clearInterval(recheck);
    await bridge.stop();
    await store.close();
    clearTimeout(timer);
    log.info(
      { accepted: bridge.metrics.accepted, committed: bridge.metrics.readingsCommitted },
      "bridge stopped",
    );
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  const durability = await firstDurability;
  for (const c of durability.checks.filter((x) => x.status === "warn" || x.status === "unknown"))
    log.warn({ setting: c.setting, value: c.value, fix: c.fix }, "Redis durability");
  assertDurable(durability);
  refusing = null;
  store.refuseReadings(null);
  recheck = setInterval(() => {
    void withinTime<DurabilityReport | null>(store.checkDurability(), 5_000, () => null)
      .catch(() => null)
      .then((report) => {
        // No answer: keep the last verdict (a Redis that does not answer takes no writes anyway).
        if (!report) return;
        const refusal = notDurableBecause(report);
        if (refusal && !refusing)
          log.error({ reason: refusal }, "Redis is not durable: readings refused until it is");
        if (!refusal && refusing) log.info("Redis is durable again: readings accepted");
        refusing = refusal;
        store.refuseReadings(refusal);
      });
  }, Math.max(1, config.redis.durabilityCheckSec) * 1000);
  recheck.unref();
  await bridge.subscribed;
  log.info(
    {
      id: bridge.id,
      rpc: redactUrl(config.chain.rpcUrl),
      submitter: walletClient.account.address,
      devices: enrolled,
      http: config.http.port,
      redis: durability.status,
    },
    "bridge started",
  );
}

/** Why this report is not durable enough (assertDurable's message), or null. */
function notDurableBecause(report: DurabilityReport): string | null {
  try {
    assertDurable(report);
    return null;
  } catch (err) {
    if (err instanceof StoreNotDurableError) return err.shortMessage;
    throw err;
  }
}

function redisTls(config: BridgeConfig) {
  const t = config.redis.tls;
  if (!t) return {};
  return {
    tls: { ca: readFileSync(t.caFile), cert: readFileSync(t.certFile), key: readFileSync(t.keyFile) },
  };
}

/** A private key file that others can read is a key others may have: say so at start. */
function warnIfReadableByOthers(file: string, key: string, log: pino.Logger): void {
  if ((statSync(file).mode & 0o077) !== 0)
    log.warn({ setting: key, file }, "key file is readable by others: chmod 600 it");
}

/**
 * Run the bridge until SIGTERM or SIGINT (it then drains and exits 0). A bridge that cannot start
 * says why in one line on stderr (secrets redacted) and exits 1.
 */
export function runBridge(configFile: string | undefined): void {
  main(configFile).catch((err: unknown) => {
    const message =
      err instanceof ConfigError ? err.shortMessage : err instanceof Error ? err.message : String(err);
    console.error(redact(`sensor-oracle bridge: ${message}`));
    process.exit(1);
  });
}

// Run directly (`node --import tsx bridge/server.ts <file>`, npm run bridge), not imported by the CLI.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href)
  runBridge(process.argv[2] ?? process.env.SO_CONFIG);
