// The bridge as a service: node bridge/server.ts <config.json>  (or SO_CONFIG=<file>; SO_* variables override).
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { createPublicClient, createWalletClient, defineChain, http, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startBridge } from "./bridge.js";
import { FleetCertificates } from "./certificates.js";
import { loadConfig, readPrivateKey, readPushedFeeds, redactUrl } from "./config.js";
import { ConfigError } from "./errors.js";
import { RedisStore } from "./store/redis-store.js";

async function main(): Promise<void> {
  const config = loadConfig(process.argv[2] ?? process.env.SO_CONFIG);
  const log = pino({ level: config.logLevel });
  const chain = defineChain({
    id: config.chain.chainId,
    name: `chain-${config.chain.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.chain.rpcUrl] } },
  });
  const transport = http(config.chain.rpcUrl, { retryCount: 3 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 500 }) as PublicClient;
  const account = privateKeyToAccount(readPrivateKey(config.chain.submitterKeyFile));
  const walletClient = createWalletClient({ chain, transport, account });
  const certificates = new FleetCertificates(readFileSync(config.fleet.caFile, "utf8"));
  const enrolled = certificates.loadDirectory(config.fleet.certificatesDir);
  // Enrolments and rotations add certificates to the folder: pick them up without a restart.
  const reload = setInterval(() => {
    try {
      certificates.loadDirectory(config.fleet.certificatesDir);
    } catch (err) {
      log.error({ err }, "certificates folder not reloaded");
    }
  }, 5_000);
  reload.unref();
  const stopCrl = config.fleet.crlFile
    ? certificates.followCrlFile(config.fleet.crlFile, (err) => log.error({ err }, "CRL not loaded"))
    : () => {};
  const store = new RedisStore({ url: config.redis.url, prefix: config.redis.prefix });
  const bridge = await startBridge({
    mqtt: {
      url: config.mqtt.url,
      ca: readFileSync(config.mqtt.caFile, "utf8"),
      cert: readFileSync(config.mqtt.certFile, "utf8"),
      key: readFileSync(config.mqtt.keyFile, "utf8"),
      protocolVersion: config.mqtt.protocolVersion,
    },
    certificates,
    store,
    publicClient,
    walletClient,
    contracts: { registry: config.chain.registry, batches: config.chain.batches },
    chainId: config.chain.chainId,
    batchIntervalMs: config.batch.intervalMs,
    maxBatchSize: config.batch.maxSize,
    rateLimit: config.rateLimit,
    ...(config.push?.feedsContract && config.push.feedsFile
      ? { push: { address: config.push.feedsContract, feeds: readPushedFeeds(config.push.feedsFile) } }
      : {}),
    http: { host: config.http.host, port: config.http.port },
    log,
  });
  log.info(
    {
      id: bridge.id,
      rpc: redactUrl(config.chain.rpcUrl),
      submitter: account.address,
      devices: enrolled,
      http: config.http.port,
    },
    "bridge started",
  );
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
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`sensor-oracle bridge: ${err.shortMessage}`);
  else console.error(`sensor-oracle bridge: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
