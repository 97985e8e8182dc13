import { randomBytes } from "node:crypto";
import { availableParallelism, hostname } from "node:os";
import mqtt from "mqtt";
import type { Logger } from "pino";
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { MAX_PAYLOAD_BYTES, type ReadingDomain, type ReadingRejectedError } from "../protocol/index.js";
import { ArchivedStore } from "./archive/archived-store.js";
import { startArchiver } from "./archive/archiver.js";
import type { Archive } from "./archive/types.js";
import { startBatcher } from "./batcher.js";
import type { FleetCertificates } from "./certificates.js";
import type { AcceptedReading, CheckParameters } from "./checks.js";
import { Closers } from "./closers.js";
import { deviceView } from "./device-view.js";
import { buildApp, DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http/app.js";
import { startIntake } from "./intake.js";
import { Metrics } from "./metrics.js";
import { FeedPusher, type PushedFeed, type PushSchedule, schedulePushes } from "./push/pusher.js";
import { DeviceRateLimiter } from "./rate-limit.js";
import { readinessCheck } from "./readiness.js";
import { RegistryCache } from "./registry/chain-registry.js";
import { type CommittedBatch, isHotStore, type ReadingStore } from "./store/types.js";
import { P256VerifyPool } from "./verify-pool.js";

/** Largest MQTT packet the bridge takes: a reading payload, its topic and the packet header. */
export const MAX_BRIDGE_PACKET_BYTES = MAX_PAYLOAD_BYTES + 512;

export type BridgeParameters = {
  /** This bridge's name: its MQTT client id and its name for the submitter lease. Unique per process. */
  id?: string;
  /**
   * MQTT 5 (default) subscribes through a shared subscription so several bridges split the load;
   * 4 (MQTT 3.1.1, for brokers such as the demo's embedded aedes) subscribes plainly.
   */
  mqtt: {
    url: string;
    ca: string;
    cert: string;
    key: string;
    clientId?: string;
    protocolVersion?: 4 | 5;
    /** The bridges' share group: a secret name, the same for all bridges of a fleet (default: guessable). */
    shareGroup?: string;
  };
  certificates: FleetCertificates;
  store: ReadingStore;
  /**
   * Move committed, final batches to this archive and trim them from Redis after `hotSeconds`
   * (default 60); proofs are then served from the archive (bridge/archive/). The store must be a
   * HotStore (RedisStore). Opened (and closed) by the archiver here.
   */
  archive?: {
    archive: Archive;
    hotSeconds?: number;
    retentionDays?: number;
    maxLagReadings?: number;
    afterStep?: Parameters<typeof startArchiver>[0]["afterStep"];
  };
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** The fleet's SensorOracle: its device registry and its reading batches. */
  contracts: { oracle: Hex };
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
  /** Limits against abusive HTTP clients (rate, timeouts, connections); defaults DEFAULT_HTTP_LIMITS. */
  httpLimits?: Partial<HttpLimits>;
  /** How far a reading may be dated ahead of this bridge's clock (default MAX_FUTURE_SKEW_SEC, 30 s). */
  maxFutureSkewSec?: number;
  log: Logger;
  onAccepted?: (r: AcceptedReading) => void;
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

/**
 * Start a bridge: subscribe over mTLS, verify and queue readings (intake.ts), commit batches
 * (batcher.ts), push feeds (push/), serve HTTP (http/). Each resource is closed by its own closer,
 * in reverse order of start: the push schedule, the registry watcher, the MQTT client, the batcher,
 * the HTTP app, the verify pool.
 */
export async function startBridge(p: BridgeParameters): Promise<Bridge> {
  const id = p.id ?? `sensor-oracle-bridge-${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const metrics = new Metrics();
  const closers = new Closers();
  try {
    // With a second core, P-256 checks run on a worker thread beside MQTT, TLS and Redis here.
    const p256Pool = (p.verifyOnWorker ?? availableParallelism() > 1) ? new P256VerifyPool() : undefined;
    if (p256Pool) closers.add("verify pool", () => p256Pool.close());

    let store = p.store;
    let archiveReady: (() => boolean) | undefined;
    let archivePages: Archive | undefined;
    if (p.archive) {
      const hot = p.store;
      if (!isHotStore(hot)) throw new Error("an archive needs a store that trims (RedisStore)");
      const { archive } = p.archive;
      let opened = false;
      const archiver = startArchiver({
        hot,
        archive,
        ...(p.archive.hotSeconds !== undefined ? { hotMs: p.archive.hotSeconds * 1000 } : {}),
        retentionDays: p.archive.retentionDays,
        ...(p.archive.maxLagReadings !== undefined ? { maxLagReadings: p.archive.maxLagReadings } : {}),
        ...(p.archive.afterStep ? { afterStep: p.archive.afterStep } : {}),
        onReady: () => {
          opened = true;
          p.log.info({ archive: archive.kind }, "archive open");
        },
        onError: (err) => p.log.warn({ err }, "archive pass failed; batches wait in Redis, retrying"),
      });
      closers.add("archive", () => archive.close());
      closers.add("archiver", () => archiver.stop());
      metrics.archive = archiver.state;
      archivePages = archive;
      archiveReady = () => opened && !archiver.tooFarBehind();
      store = new ArchivedStore({
        hot,
        archive,
        retentionDays: p.archive.retentionDays,
        archiveTooFarBehind: () => archiver.tooFarBehind(),
      });
    }

    const registry = new RegistryCache(p.publicClient, p.contracts.oracle, p.registryTtlMs);
    let mqttConnected = () => false;
    const app = buildApp({
      store,
      metrics,
      ready: readinessCheck({
        mqttConnected: () => mqttConnected(),
        store,
        publicClient: p.publicClient,
        ...(archiveReady ? { archiveReady } : {}),
      }),
      device: deviceView(p.certificates, registry),
      ...(archivePages ? { pages: archivePages } : {}),
      limits: { ...DEFAULT_HTTP_LIMITS, ...p.httpLimits },
    });
    closers.add("HTTP app", () => app.close());

    const batcher = startBatcher({
      store,
      publicClient: p.publicClient,
      walletClient: p.walletClient,
      batches: p.contracts.oracle,
      metrics,
      intervalMs: p.batchIntervalMs ?? 2000,
      maxBatchSize: p.maxBatchSize ?? 1024,
      owner: id,
      onCommitting: (b) =>
        p.log.info({ batch: b.seq, root: b.root, readings: b.readings }, "committing batch"),
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
    closers.add("batcher", () => batcher.stop());

    const pusher = p.push
      ? new FeedPusher({
          feeds: p.push.feeds,
          address: p.push.address,
          store,
          publicClient: p.publicClient,
          walletClient: p.walletClient,
          metrics,
          owner: id,
          onPushed: (feedId, value, readings, tx) =>
            p.log.info({ feedId, value: value.toString(), readings, tx }, "feed pushed"),
          onError: (err) => p.log.error({ err }, "feed push failed; will retry"),
        })
      : undefined;

    const protocolVersion = p.mqtt.protocolVersion ?? 5;
    const client = await mqtt.connectAsync(p.mqtt.url, {
      protocolVersion,
      ca: p.mqtt.ca,
      cert: p.mqtt.cert,
      key: p.mqtt.key,
      clientId: p.mqtt.clientId ?? id,
      rejectUnauthorized: true,
      reconnectPeriod: 1000,
      // MQTT 5: the broker must not forward a packet larger than this to the bridge (a reading is
      // at most MAX_PAYLOAD_BYTES; the rest is topic and header). Defence in depth beside the
      // broker's own limit: a huge message is dropped at the broker, never buffered here.
      ...(protocolVersion === 5 ? { properties: { maximumPacketSize: MAX_BRIDGE_PACKET_BYTES } } : {}),
    });
    closers.add("MQTT client", () => client.endAsync());
    mqttConnected = () => client.connected;
    const ingest: CheckParameters = {
      certificates: p.certificates,
      registry,
      store,
      domain: { chainId: p.chainId, registry: p.contracts.oracle } satisfies ReadingDomain,
      observeVerify: (s: number) => metrics.verifyTime.observe(s),
      ...(p256Pool ? { p256Pool } : {}),
      ...(p.maxFutureSkewSec !== undefined ? { maxFutureSkewSec: p.maxFutureSkewSec } : {}),
    };
    await startIntake({
      client,
      protocolVersion,
      ...(p.mqtt.shareGroup ? { shareGroup: p.mqtt.shareGroup } : {}),
      ingest,
      limiter: new DeviceRateLimiter(p.rateLimit?.perSecond ?? 20, p.rateLimit?.burst ?? 40),
      metrics,
      log: p.log,
      // Measured (npm run bench, P-256 with the verify worker): 1024 in flight gave 7,235-8,910/s, 256
      // gave 5,315-6,912/s; more in flight keeps the worker fed while the main thread waits on Redis.
      maxInFlight: p.maxInFlight ?? 1024,
      ...(pusher ? { observe: (r: AcceptedReading) => pusher.observe(r.stored) } : {}),
      ...(p.onAccepted ? { onAccepted: p.onAccepted } : {}),
      ...(p.onRejected ? { onRejected: p.onRejected } : {}),
    });

    closers.add("registry watcher", registry.watch());

    const pushes: PushSchedule | undefined = pusher && schedulePushes(pusher, p.push?.intervalMs ?? 1000);
    if (pushes) closers.add("push schedule", () => pushes.stop());

    if (p.http) await app.listen({ port: p.http.port, host: p.http.host ?? "127.0.0.1" });

    return {
      id,
      metrics,
      app,
      flush: () => batcher.flush(),
      pushFeeds: () => pushes?.pushNow() ?? Promise.resolve(0),
      stop: () => closers.closeAll(),
    };
  } catch (err) {
    await closers.closeAll().catch(() => {});
    throw err;
  }
}
