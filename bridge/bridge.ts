import { randomBytes, X509Certificate } from "node:crypto";
import { availableParallelism, hostname } from "node:os";
import mqtt from "mqtt";
import type { Logger } from "pino";
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { MAX_PAYLOAD_BYTES, type ReadingDomain, type ReadingRejectedError } from "../protocol/index.js";
import { secp256k1Implementation, secp256k1NativeError } from "../protocol/secp256k1-native.mjs";
import { ArchivedStore } from "./archive/archived-store.js";
import { startArchiver } from "./archive/archiver.js";
import type { Archive } from "./archive/types.js";
import { startBatcher } from "./batcher.js";
import { watchedCertificates } from "./certificate-expiry.js";
import type { FleetCertificates } from "./certificates.js";
import { chainSenderFor } from "./chain-sender.js";
import type { AcceptedReading, CheckParameters } from "./checks.js";
import { Closers } from "./closers.js";
import { deviceView } from "./device-view.js";
import { buildApp, DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http/app.js";
import { FleetActivity } from "./http/fleet-activity.js";
import { startIntake } from "./intake.js";
import { Metrics } from "./metrics.js";
import { FeedPusher, type PushedFeed, type PushSchedule, schedulePushes } from "./push/pusher.js";
import { DeviceRateLimiter } from "./rate-limit.js";
import { readinessCheck } from "./readiness.js";
import { ReadingValidity } from "./reading-validity.js";
import { RegistryCache } from "./registry/chain-registry.js";
import { type CommittedBatch, isHotStore, type ReadingStore } from "./store/types.js";
import { defaultVerifyWorkers, VerifyPool } from "./verify-pool.js";

/** The pause before the first MQTT reconnect attempt; it doubles after each failure up to MQTT_RETRY_MAX_MS. */
export const MQTT_RETRY_MIN_MS = 1_000;
export const MQTT_RETRY_MAX_MS = 30_000;
/** The bridge's MQTT keepalive (mqtt.js's default). */
export const MQTT_KEEPALIVE_SEC = 60;
/**
 * How long the broker keeps a disconnected bridge's MQTT 5 session: longer than a reconnection
 * (at most MQTT_RETRY_MAX_MS) or a restart. Measured on Mosquitto 2.0.11: it queues readings for a
 * disconnected session and delivers them on its return; with several bridges in the share group it
 * still gives the absent one its turn (half of 100 readings with two bridges), so a bridge that is
 * gone for good holds its share until the session expires (devices send unacknowledged readings again).
 */
export const MQTT_SESSION_EXPIRY_SEC = 300;

/** Largest MQTT packet the bridge takes: a reading payload, its topic and the packet header. */
export const MAX_BRIDGE_PACKET_BYTES = MAX_PAYLOAD_BYTES + 512;

export type BridgeParameters = {
  /** This bridge's name for the submitter lease (and its MQTT client id if its certificate has no CN). Unique per process. */
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
    /** MQTT keepalive in seconds (default MQTT_KEEPALIVE_SEC). */
    keepaliveSec?: number;
    /**
     * MQTT 5: how long the broker keeps this bridge's session (its subscription and the readings
     * queued for it) after a disconnection, in seconds (default MQTT_SESSION_EXPIRY_SEC). 0: a clean
     * session, lost with each disconnection.
     */
    sessionExpirySec?: number;
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
  /** Check signatures (both curves) on worker threads (default: when the machine has more than one core). */
  verifyOnWorker?: boolean;
  /** How many verify worker threads (default defaultVerifyWorkers(): the cores beside the main thread, 1 to 4). */
  verifyWorkers?: number;
  /** Per-device limit (token bucket); default 20 readings/s with bursts of 40. */
  rateLimit?: { perSecond: number; burst: number };
  http?: { port: number; host?: string; cors?: { origins: readonly string[] } };
  /** Limits against abusive HTTP clients (rate, timeouts, connections); defaults DEFAULT_HTTP_LIMITS. */
  httpLimits?: Partial<HttpLimits>;
  /** How far a reading may be dated ahead of this bridge's clock (default MAX_FUTURE_SKEW_SEC, 30 s). */
  maxFutureSkewSec?: number;
  /**
   * Resolve only once subscribed to the broker (default true). The service passes false: it
   * starts with the broker down, reports not ready and connects when the broker is up.
   */
  waitForBroker?: boolean;
  /** More readiness conditions: each returns why the bridge is not ready, or null (e.g. Redis durability). */
  notReadyBecause?: Record<string, () => string | null>;
  log: Logger;
  onAccepted?: (r: AcceptedReading) => void;
  onRejected?: (deviceName: string | null, err: ReadingRejectedError) => void;
  onCommitted?: (b: CommittedBatch) => void;
};

export type Bridge = {
  id: string;
  metrics: Metrics;
  app: ReturnType<typeof buildApp>;
  /** Resolves once subscribed to the broker the first time. */
  subscribed: Promise<void>;
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
  metrics.batchIntervalSeconds = (p.batchIntervalMs ?? 2000) / 1000;
  metrics.watchSubmitterBalance(() => p.publicClient.getBalance({ address: p.walletClient.account.address }));
  metrics.watchCertificates(() => watchedCertificates(p.mqtt, p.certificates));
  const closers = new Closers();
  try {
    // secp256k1 at native speed needs libsecp256k1's binding; without it, checks fall back to
    // @noble/curves at about 380/s on a core: the bridge runs, but says so loudly.
    if (secp256k1Implementation !== "native")
      p.log.error(
        { implementation: secp256k1Implementation, cause: secp256k1NativeError },
        "secp256k1 native binding unavailable: secp256k1 readings are checked about 40 times slower (npm rebuild secp256k1)",
      );
    // With a second core, signature checks run on worker threads beside MQTT, TLS and Redis here.
    const verifyPool =
      (p.verifyOnWorker ?? availableParallelism() > 1)
        ? new VerifyPool({
            workers: p.verifyWorkers ?? defaultVerifyWorkers(),
            onWorkerExit: (e) => {
              metrics.verifyWorkerRestarts += 1;
              p.log.error(e, "verify worker exited: replaced, its checks queued again");
            },
          })
        : undefined;
    if (verifyPool) closers.add("verify pool", () => verifyPool.close());

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

    const registry = new RegistryCache(
      p.publicClient,
      p.contracts.oracle,
      p.registryTtlMs === undefined ? {} : { ttlMs: p.registryTtlMs },
    );
    const domain: ReadingDomain = { chainId: p.chainId, registry: p.contracts.oracle };
    // Every committed or pushed reading is checked against the registry as it is at the cut.
    const validity = new ReadingValidity(registry, domain);
    // The batcher and the pusher send from one key: one sender, one nonce (chain-sender.ts).
    chainSenderFor(p.publicClient, p.walletClient).onResync = (nonce, why) => {
      metrics.nonceResyncs += 1;
      p.log.warn({ nonce, why }, "submitter nonce read again from the chain");
    };
    let mqttConnected = () => false;
    let mqttReason = (): string | null => null;
    // What the fleet page shows of this bridge's intake and commits (http/fleet-summary.ts).
    const activity = new FleetActivity();
    const app = buildApp({
      store,
      metrics,
      ready: readinessCheck({
        mqttConnected: () => mqttConnected(),
        mqttReason: () => mqttReason(),
        ...(p.notReadyBecause ? { more: p.notReadyBecause } : {}),
        store,
        publicClient: p.publicClient,
        ...(verifyPool ? { verifyPool } : {}),
        ...(archiveReady ? { archiveReady } : {}),
      }),
      device: deviceView(p.certificates, registry),
      ...(archivePages ? { pages: archivePages } : {}),
      limits: { ...DEFAULT_HTTP_LIMITS, ...p.httpLimits },
      validity,
      ...(p.http?.cors ? { cors: p.http.cors } : {}),
      fleet: { activity, enrolled: () => p.certificates.names() },
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
      validity,
      onLeftOut: (left) => p.log.warn({ left }, "readings left out of the batch: they no longer verify"),
      onCommitting: (b) =>
        p.log.info({ batch: b.seq, root: b.root, readings: b.readings }, "committing batch"),
      onCommitted: (b) => {
        p.log.info(
          { root: b.root, readings: b.ids.length, tx: b.txHash, gasUsed: b.gasUsed },
          "batch committed",
        );
        activity.committed(b);
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
          validity,
          onDropped: (r, reason) =>
            p.log.warn({ reading: r.id, reason }, "reading dropped from the feed push"),
          onPushed: (feedId, value, readings, tx) =>
            p.log.info({ feedId, value: value.toString(), readings, tx }, "feed pushed"),
          onError: (err) => p.log.error({ err }, "feed push failed; will retry"),
        })
      : undefined;

    const protocolVersion = p.mqtt.protocolVersion ?? 5;
    const sessionExpirySec = p.mqtt.sessionExpirySec ?? MQTT_SESSION_EXPIRY_SEC;
    // Measured (npm run bench, P-256 with the verify worker): 1024 in flight gave 7,235-8,910/s, 256
    // gave 5,315-6,912/s; more in flight keeps the worker fed while the main thread waits on Redis.
    const maxInFlight = p.maxInFlight ?? 1024;
    // The broker may be down (or not yet up): the client retries with a growing pause (1 s,
    // doubling to 30 s, back to 1 s once connected) and /readyz says why it is not connected.
    const client = mqtt.connect(p.mqtt.url, {
      protocolVersion,
      ca: p.mqtt.ca,
      cert: p.mqtt.cert,
      key: p.mqtt.key,
      // The certificate's CN by default: the same after a restart (the persistent session's key),
      // and what the fleet broker makes it anyway (use_username_as_clientid).
      clientId: p.mqtt.clientId ?? commonNameOf(p.mqtt.cert) ?? id,
      rejectUnauthorized: true,
      reconnectPeriod: MQTT_RETRY_MIN_MS,
      keepalive: p.mqtt.keepaliveSec ?? MQTT_KEEPALIVE_SEC,
      // MQTT 5: a persistent session (the broker's client id is the certificate's CN, so it is the
      // same after a restart): what the broker accepted for this bridge survives a disconnection.
      clean: protocolVersion !== 5 || sessionExpirySec === 0,
      // MQTT 5: the broker must not forward a packet larger than this to the bridge (a reading is
      // at most MAX_PAYLOAD_BYTES; the rest is topic and header). Defence in depth beside the
      // broker's own limit: a huge message is dropped at the broker, never buffered here.
      // receiveMaximum: the broker sends at most maxInFlight unacknowledged readings, so the
      // intake never has to hold a PUBACK back (which stops mqtt.js reading, PINGRESP included).
      ...(protocolVersion === 5
        ? {
            properties: {
              maximumPacketSize: MAX_BRIDGE_PACKET_BYTES,
              receiveMaximum: Math.min(maxInFlight, 65_535),
              ...(sessionExpirySec > 0 ? { sessionExpiryInterval: sessionExpirySec } : {}),
            },
          }
        : {}),
    });
    let mqttError: string | null = null;
    client.on("error", (err) => {
      if (mqttError !== err.message) p.log.warn({ err: err.message }, "MQTT connection error; retrying");
      mqttError = err.message;
    });
    // Each attempt doubles the pause before the next one: 1 s, 2 s, 4 s... 30 s.
    client.on("reconnect", () => {
      client.options.reconnectPeriod = Math.min(
        MQTT_RETRY_MAX_MS,
        (client.options.reconnectPeriod ?? MQTT_RETRY_MIN_MS) * 2,
      );
    });
    client.on("connect", () => {
      if (mqttError) p.log.info("MQTT connected");
      mqttError = null;
      client.options.reconnectPeriod = MQTT_RETRY_MIN_MS;
    });
    closers.add("MQTT client", () => client.endAsync(!client.connected));
    mqttConnected = () => client.connected;
    mqttReason = () => mqttError;
    const ingest: CheckParameters = {
      certificates: p.certificates,
      registry,
      store,
      domain,
      observeVerify: (s: number) => metrics.verifyTime.observe(s),
      ...(verifyPool ? { verifyPool } : {}),
      ...(p.maxFutureSkewSec !== undefined ? { maxFutureSkewSec: p.maxFutureSkewSec } : {}),
    };
    const subscribed = startIntake({
      client,
      protocolVersion,
      ...(p.mqtt.shareGroup ? { shareGroup: p.mqtt.shareGroup } : {}),
      ingest,
      limiter: new DeviceRateLimiter(p.rateLimit?.perSecond ?? 20, p.rateLimit?.burst ?? 40),
      metrics,
      log: p.log,
      maxInFlight,
      ...(pusher ? { observe: (r: AcceptedReading) => pusher.observe(r.stored) } : {}),
      onAccepted: (r: AcceptedReading) => {
        activity.accepted(r);
        p.onAccepted?.(r);
      },
      onRejected: (name: string | null, err: ReadingRejectedError) => {
        activity.rejected(name, err.reason);
        p.onRejected?.(name, err);
      },
    });

    closers.add("registry watcher", registry.watch());

    const pushes: PushSchedule | undefined = pusher && schedulePushes(pusher, p.push?.intervalMs ?? 1000);
    if (pushes) closers.add("push schedule", () => pushes.stop());

    // HTTP first: /healthz and /readyz answer while the broker, Redis or the chain are still down.
    if (p.http) await app.listen({ port: p.http.port, host: p.http.host ?? "127.0.0.1" });
    if (p.waitForBroker ?? true) await subscribed;
    else void subscribed.then(() => p.log.info("subscribed to readings"));

    return {
      id,
      metrics,
      app,
      subscribed,
      flush: () => batcher.flush(),
      pushFeeds: () => pushes?.pushNow() ?? Promise.resolve(0),
      stop: () => closers.closeAll(),
    };
  } catch (err) {
    await closers.closeAll().catch(() => {});
    throw err;
  }
}

/** The CN of a PEM certificate's subject (its first certificate), or undefined. */
function commonNameOf(certPem: string): string | undefined {
  try {
    return /^CN=(.+)$/m.exec(new X509Certificate(certPem).subject)?.[1];
  } catch {
    return undefined;
  }
}
