import { randomBytes } from "node:crypto";
import { availableParallelism, hostname } from "node:os";
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import {
  ALL_READINGS,
  acksTopic,
  BRIDGE_SUBSCRIPTION,
  deviceNameFromTopic,
  deviceNameToId,
  encodeAck,
  type ReadingDomain,
  ReadingRejectedError,
} from "../protocol/index.js";
import { buildApp } from "./app.js";
import { startBatcher } from "./batcher.js";
import type { FleetCertificates } from "./certificates.js";
import { type IngestResult, ingestReading } from "./ingest.js";
import { Metrics } from "./metrics.js";
import { FeedPusher, type PushedFeed } from "./pusher.js";
import { DeviceRateLimiter } from "./rate-limit.js";
import { RegistryCache } from "./registry.js";
import type { CommittedBatch, ReadingStore } from "./store/types.js";
import { P256VerifyPool } from "./verify-pool.js";

export type BridgeParameters = {
  /** This bridge's name: its MQTT client id and its name for the submitter lease. Unique per process. */
  id?: string;
  /**
   * MQTT 5 (default) subscribes through a shared subscription so several bridges split the load;
   * 4 (MQTT 3.1.1, for brokers such as the demo's embedded aedes) subscribes plainly.
   */
  mqtt: { url: string; ca: string; cert: string; key: string; clientId?: string; protocolVersion?: 4 | 5 };
  certificates: FleetCertificates;
  store: ReadingStore;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  contracts: { registry: Hex; batches: Hex };
  chainId: number;
  batchIntervalMs?: number;
  maxBatchSize?: number;
  registryTtlMs?: number;
  /** Blocks after which a committed batch is final (default 2). */
  confirmations?: number;
  /** Push feeds to a SensorFeeds contract on deviation and heartbeat. */
  push?: { address: Hex; feeds: PushedFeed[]; intervalMs?: number };
  /** A commit not mined after this long is sent again with 20% higher fees (default 60 s). */
  stuckAfterMs?: number;
  /** Messages processed at once (default 1024); beyond it the broker is slowed by held PUBACKs. */
  maxInFlight?: number;
  /** Check P-256 signatures on a worker thread (default: when the machine has more than one core). */
  verifyOnWorker?: boolean;
  /** Per-device limit (token bucket); default 20 readings/s with bursts of 40. */
  rateLimit?: { perSecond: number; burst: number };
  http?: { port: number; host?: string };
  log: Logger;
  onAccepted?: (r: IngestResult) => void;
  onRejected?: (deviceName: string | null, err: ReadingRejectedError) => void;
  onCommitted?: (b: CommittedBatch) => void;
};

export type Bridge = {
  id: string;
  metrics: Metrics;
  app: ReturnType<typeof buildApp>;
  /** Commit what is queued now (tests and shutdown). */
  flush(): Promise<void>;
  /** Push the feeds that are due now. */
  pushFeeds(): Promise<number>;
  stop(): Promise<void>;
};

/** Start a bridge: subscribe over mTLS, verify and queue readings, commit batches, serve HTTP. */
export async function startBridge(p: BridgeParameters): Promise<Bridge> {
  const metrics = new Metrics();
  const registry = new RegistryCache(p.publicClient, p.contracts.registry, p.registryTtlMs);
  const unwatchRegistry = registry.watch();
  const domain: ReadingDomain = { chainId: p.chainId, registry: p.contracts.registry };
  // With a second core, P-256 checks run on a worker thread beside MQTT, TLS and Redis here.
  const p256Pool = (p.verifyOnWorker ?? availableParallelism() > 1) ? new P256VerifyPool() : undefined;
  const ingestParams = {
    certificates: p.certificates,
    registry,
    store: p.store,
    domain,
    observeVerify: (s: number) => metrics.verifyTime.observe(s),
    ...(p256Pool ? { p256Pool } : {}),
  };
  const limiter = new DeviceRateLimiter(p.rateLimit?.perSecond ?? 20, p.rateLimit?.burst ?? 40);

  const id = p.id ?? `sensor-oracle-bridge-${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const protocolVersion = p.mqtt.protocolVersion ?? 5;
  const client: MqttClient = await mqtt.connectAsync(p.mqtt.url, {
    protocolVersion,
    ca: p.mqtt.ca,
    cert: p.mqtt.cert,
    key: p.mqtt.key,
    clientId: p.mqtt.clientId ?? id,
    rejectUnauthorized: true,
    reconnectPeriod: 1000,
  });

  async function handle(topic: string, payload: Buffer): Promise<void> {
    const name = deviceNameFromTopic(topic);
    try {
      if (!name)
        throw new ReadingRejectedError("malformed", "Message on an unexpected topic.", { details: topic });
      if (!limiter.take(name)) {
        throw new ReadingRejectedError("rate_limited", "Device is sending faster than its rate limit.", {
          details: `device ${name}`,
        });
      }
      const result = await ingestReading(ingestParams, name, payload);
      metrics.accepted += 1;
      pusher?.observe(result.stored);
      // QoS 0: a lost ack only makes the device send the reading again, which is answered with a
      // "replay" ack that it takes as delivered. Measured: QoS 1 acks cost a PUBACK round per reading.
      client.publish(
        acksTopic(name),
        encodeAck({ v: 1, sequence: result.reading.sequence.toString(), status: "queued" }),
        ACK_OPTS,
      );
      p.onAccepted?.(result);
    } catch (err) {
      if (!(err instanceof ReadingRejectedError)) throw err;
      metrics.reject(err.reason);
      p.log.warn({ device: name, reason: err.reason, details: err.details }, "reading rejected");
      if (name) {
        client.publish(
          acksTopic(name),
          encodeAck({ v: 1, sequence: sequenceOf(payload), status: "rejected", reason: err.reason }),
          ACK_OPTS,
        );
      }
      p.onRejected?.(name, err);
    }
  }

  // Durability is end to end: a device keeps each reading until this bridge's "queued" ack (sent
  // only after the Redis write) and sends it again otherwise. So the broker's PUBACK need not
  // wait for Redis: up to maxInFlight messages are processed at once (their Redis scripts
  // pipelined), and beyond that the PUBACK is held back, which makes the broker slow down.
  // Readings of one device may then finish out of order; the store's replay window allows that.
  const pusher = p.push
    ? new FeedPusher({
        feeds: p.push.feeds,
        address: p.push.address,
        store: p.store,
        publicClient: p.publicClient,
        walletClient: p.walletClient,
        metrics,
        owner: id,
        onPushed: (feedId, value, readings, tx) =>
          p.log.info({ feedId, value: value.toString(), readings, tx }, "feed pushed"),
        onError: (err) => p.log.error({ err }, "feed push failed; will retry"),
      })
    : undefined;
  let pushing = Promise.resolve(0);
  const pushTimer = pusher
    ? setInterval(() => {
        pushing = pushing.then(() => pusher.tick());
      }, p.push?.intervalMs ?? 1000)
    : undefined;
  // Measured (npm run bench, P-256 with the verify worker): 1024 in flight gave 7,235-8,910/s, 256
  // gave 5,315-6,912/s; more in flight keeps the worker fed while the main thread waits on Redis.
  const maxInFlight = p.maxInFlight ?? 1024;
  let inFlight = 0;
  const held: (() => void)[] = [];
  client.handleMessage = (packet, done) => {
    inFlight += 1;
    handle(packet.topic, packet.payload as Buffer)
      .catch((err: unknown) => {
        // Store or chain unreachable: no ack to the device, which will send the reading again.
        metrics.processingErrors += 1;
        p.log.error({ err, topic: packet.topic }, "reading not processed");
      })
      .finally(() => {
        inFlight -= 1;
        held.shift()?.();
      });
    if (inFlight < maxInFlight) done();
    else held.push(() => done());
  };
  await client.subscribeAsync(protocolVersion === 5 ? BRIDGE_SUBSCRIPTION : ALL_READINGS, { qos: 1 });

  const batcher = startBatcher({
    store: p.store,
    publicClient: p.publicClient,
    walletClient: p.walletClient,
    batches: p.contracts.batches,
    metrics,
    intervalMs: p.batchIntervalMs ?? 2000,
    maxBatchSize: p.maxBatchSize ?? 1024,
    owner: id,
    onCommitting: (b) => p.log.info({ batch: b.seq, root: b.root, readings: b.readings }, "committing batch"),
    onCommitted: (b) => {
      p.log.info(
        { root: b.root, readings: b.ids.length, tx: b.txHash, gasUsed: b.gasUsed },
        "batch committed",
      );
      p.onCommitted?.(b);
    },
    onError: (err) => p.log.error({ err }, "batch commit failed; will retry"),
    onRecommitted: (root, tx) => p.log.warn({ root, tx }, "batch committed again after a reorg"),
    onFeeBump: (label, maxFeePerGas) =>
      p.log.warn({ batch: label, maxFeePerGas: maxFeePerGas.toString() }, "commit stuck: fees bumped"),
    ...(p.stuckAfterMs !== undefined ? { stuckAfterMs: p.stuckAfterMs } : {}),
    ...(p.confirmations !== undefined ? { confirmations: p.confirmations } : {}),
  });

  const app = buildApp({
    store: p.store,
    metrics,
    ready: async () => {
      const [redis, chain] = await Promise.all([
        p.store.queueDepth().then(
          () => true,
          () => false,
        ),
        p.publicClient.getBlockNumber().then(
          () => true,
          () => false,
        ),
      ]);
      const checks = { mqtt: client.connected, redis, chain };
      return { ok: Object.values(checks).every(Boolean), checks };
    },
    device: async (name) => {
      const cert = await p.certificates.resolve(name).catch(() => null);
      const record = await registry.get(deviceNameToId(name)).catch(() => null);
      if (!cert && !record) return null;
      return {
        name,
        deviceId: deviceNameToId(name),
        certificate: cert && {
          curve: cert.curve,
          fingerprint: cert.fingerprint,
          notBefore: cert.notBefore.toISOString(),
          notAfter: cert.notAfter.toISOString(),
        },
        registry: record && {
          curve: record.curve,
          status: record.status,
          validFrom: record.validFrom,
          revokedAt: record.revokedAt,
          certFingerprint: record.certFingerprint,
        },
      };
    },
  });
  if (p.http) await app.listen({ port: p.http.port, host: p.http.host ?? "127.0.0.1" });

  return {
    id,
    metrics,
    app,
    flush: () => batcher.flush(),
    pushFeeds: () => {
      pushing = pushing.then(() => pusher?.tick() ?? 0);
      return pushing;
    },
    async stop() {
      if (pushTimer) clearInterval(pushTimer);
      await pushing;
      unwatchRegistry();
      await client.endAsync();
      await batcher.stop();
      await app.close();
      await p256Pool?.close();
    },
  };
}

const ACK_OPTS = { qos: 0 } as const;

function sequenceOf(payload: Buffer): string | null {
  try {
    const s = (JSON.parse(payload.toString("utf8")) as { sequence?: unknown }).sequence;
    return typeof s === "string" && /^[0-9]{1,20}$/.test(s) ? s : null;
  } catch {
    return null;
  }
}
