import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import type { Hex } from "viem";
import { type Bridge, type BridgeParameters, startBridge } from "../bridge/bridge.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import type { FleetCa, IssuedCertificate } from "../pki/fleet-ca.js";
import { type ChainNode, DEV_KEYS, startHardhatNode } from "./chain-node.js";
import { startMosquitto } from "./mosquitto.js";
import type { Service } from "./process.js";
import { startRedis } from "./redis.js";
import { deployStack, type Stack } from "./stack.js";

export const BRIDGE_CN = "sensor-oracle-bridge";

export type TestInfra = {
  bridgeCert: IssuedCertificate;
  /** One client certificate per bridge (`bridges`), each with its own CN: the broker binds client ids to CNs. */
  bridgeCerts: IssuedCertificate[];
  redis: Service;
  broker: Service;
  stack: Stack;
};

/**
 * What most end-to-end tests and benchmarks stand on: for a fleet CA, a private Redis, a private
 * Mosquitto with mTLS and the per-device ACL, the contracts on Hardhat's in-process chain, and a
 * client certificate for the bridge. Started in parallel; each part stops on its own.
 */
export async function startTestInfra(ca: FleetCa, opts: { bridges?: number } = {}): Promise<TestInfra> {
  const bridgeCns = Array.from({ length: opts.bridges ?? 1 }, (_, i) =>
    i ? `${BRIDGE_CN}-${i + 1}` : BRIDGE_CN,
  );
  const bridgeCerts = await Promise.all(bridgeCns.map((commonName) => ca.issueClient({ commonName })));
  const bridgeCert = bridgeCerts[0] as IssuedCertificate;
  const [redis, broker, stack] = await Promise.all([
    startRedis(),
    startFleetBroker(ca, bridgeCns),
    deployStack(),
  ]);
  return { bridgeCert, bridgeCerts, redis, broker, stack };
}

/** A private Mosquitto for a fleet CA: mTLS with a localhost server certificate, the per-device ACL. */
export async function startFleetBroker(
  ca: FleetCa,
  bridgeUser: string | string[],
  opts: { maxConnections?: number } = {},
): Promise<Service> {
  const server = await ca.issueServer({ commonName: "localhost" });
  return startMosquitto({
    caPem: ca.certPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    bridgeUser,
    ...opts,
  });
}

/**
 * What tests and benchmarks of a bridge run as its own process stand on: a private Redis and
 * Mosquitto as in startTestInfra, and `hardhat node` (its own process, for the bridge's RPC URL).
 */
export async function startProcessInfra(
  ca: FleetCa,
  opts: { maxConnections?: number } = {},
): Promise<{ bridgeCert: IssuedCertificate; node: ChainNode; redis: Service; broker: Service }> {
  const bridgeCert = await ca.issueClient({ commonName: BRIDGE_CN });
  const [node, redis, broker] = await Promise.all([
    startHardhatNode(),
    startRedis(),
    startFleetBroker(ca, BRIDGE_CN, opts),
  ]);
  return { bridgeCert, node, redis, broker };
}

/**
 * The startBridge settings every bridge on this infrastructure shares: the broker with the
 * bridge's client certificate, the chain, the submitter and the contracts.
 */
/** The share group of the bridges these tests start (a fleet's is secret: `broker config` makes one). */
export const TEST_SHARE_GROUP = `so-test-${randomBytes(8).toString("hex")}`;

export function bridgeOn(
  ca: FleetCa,
  infra: Pick<TestInfra, "bridgeCert" | "broker" | "stack">,
): Pick<BridgeParameters, "mqtt" | "publicClient" | "walletClient" | "contracts" | "chainId"> {
  const { bridgeCert, broker, stack } = infra;
  return {
    mqtt: {
      url: broker.url,
      ca: ca.certPem,
      cert: bridgeCert.certPem,
      key: bridgeCert.keyPem,
      shareGroup: TEST_SHARE_GROUP,
    },
    publicClient: stack.publicClient,
    walletClient: stack.submitter,
    contracts: stack.contracts,
    chainId: stack.chainId,
  };
}

/**
 * The settings file of a bridge run as its own process (`bridge/server.ts <file>`) against a
 * `hardhat node`: the broker with the bridge's client certificate, Redis, the chain with the dev
 * submitter key and the contracts, and the fleet (`dir/ca.pem`, `dir/devices`). The certificates
 * and keys go to 0600 files in `dir`; `settings` (batch, HTTP, log level...) completes the file.
 * Returns its path.
 */
/** What a test bridge takes beyond the infrastructure: its store's prefix, and settings of its own. */
export type TestBridgeSettings = { prefix: string; log?: BridgeParameters["log"] } & Omit<
  BridgeParameters,
  "mqtt" | "publicClient" | "walletClient" | "contracts" | "chainId" | "store" | "log"
>;

/**
 * A bridge in this process on this infrastructure, with a RedisStore under `prefix`, committing
 * when the test flushes (unless `settings` says otherwise) and logging nothing.
 */
export async function startTestBridge(
  ca: FleetCa,
  infra: Pick<TestInfra, "bridgeCert" | "broker" | "stack" | "redis">,
  { prefix, ...settings }: TestBridgeSettings,
): Promise<{ bridge: Bridge; store: RedisStore }> {
  const store = new RedisStore({ url: infra.redis.url, prefix });
  const bridge = await startBridge({
    ...bridgeOn(ca, infra),
    store,
    batchIntervalMs: 60_000,
    log: pino({ level: "silent" }),
    ...settings,
  });
  return { bridge, store };
}

export function writeBridgeConfig(
  dir: string,
  ca: FleetCa,
  infra: {
    bridgeCert: IssuedCertificate;
    broker: { url: string };
    redis: { url: string; prefix: string };
    rpcUrl: string;
    contracts: { oracle: Hex };
  },
  settings: Record<string, unknown>,
): string {
  const file = (name: string, body: string) => {
    writeFileSync(join(dir, name), body, { mode: 0o600 });
    return join(dir, name);
  };
  const { bridgeCert, broker, redis, rpcUrl, contracts } = infra;
  const caFile = file("ca.pem", ca.certPem);
  return file(
    "bridge.json",
    JSON.stringify({
      mqtt: {
        url: broker.url,
        caFile,
        certFile: file("bridge.pem", bridgeCert.certPem),
        keyFile: file("bridge.key", bridgeCert.keyPem),
        shareGroup: TEST_SHARE_GROUP,
      },
      redis,
      chain: {
        rpcUrl,
        chainId: 31337,
        oracle: contracts.oracle,
        submitterKeyFile: file("submitter.key", DEV_KEYS.submitter),
      },
      fleet: { caFile, certificatesDir: join(dir, "devices") },
      ...settings,
    }),
  );
}
