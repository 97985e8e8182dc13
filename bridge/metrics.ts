import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram as PromHistogram,
  type Registry as PromRegistry,
  Registry,
} from "prom-client";
import { formatEther } from "viem";
import { REJECTION_REASONS, type RejectionReason } from "../protocol/index.js";
import { withinTime } from "./time-limit.js";

/** A Prometheus histogram with fixed upper bounds (a prom-client Histogram behind observe()). */
export class Histogram {
  readonly metric: PromHistogram;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {
    this.metric = new PromHistogram({ name, help, buckets: [...bounds], registers: [] });
  }

  observe(v: number): void {
    this.metric.observe(v);
  }
}

/** A certificate whose expiry is watched: a label and its notAfter (null: none loaded). */
export type WatchedCertificate = { certificate: string; notAfter: Date | null };

/** How long a scrape waits for the submitter's balance before it answers with the last one. */
const BALANCE_READ_MS = 2_000;

/**
 * The bridge's counters, gauges and histograms, rendered by prom-client with the process's default
 * metrics (CPU, memory, event-loop lag, GC, handles). The fields are the API the bridge's parts
 * count with (`metrics.accepted += 1`, `metrics.reject(reason)`, `metrics.batchSize.observe(n)`);
 * the registry reads them at each scrape. To add one: a counter is a field and a COUNTERS entry, a
 * gauge a GAUGES entry (reading a field or a method), a histogram a Histogram field (registered at
 * the first render).
 */
export class Metrics {
  readonly batchSize = new Histogram(
    "sensor_oracle_batch_size",
    "Readings per committed batch.",
    [1, 4, 16, 64, 256, 1024, 4096],
  );
  readonly commitLatency = new Histogram(
    "sensor_oracle_commit_latency_seconds",
    "From cutting a batch to its commit receipt.",
    [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  );
  readonly verifyTime = new Histogram(
    "sensor_oracle_verify_seconds",
    "Signature verification time per reading.",
    [0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.005],
  );
  accepted = 0;
  readonly rejected: Record<RejectionReason, number> = Object.fromEntries(
    REJECTION_REASONS.map((r) => [r, 0]),
  ) as Record<RejectionReason, number>;
  readingsCommitted = 0;
  gasUsed = 0n;
  commitFailures = 0;
  processingErrors = 0;
  recommits = 0;
  feeBumps = 0;
  feedPushes = 0;
  /** The archiver's state (bridge/archive/archiver.ts), when the bridge has an archive. */
  archive: {
    reachable: boolean;
    lagBatches: number;
    lagReadings: number;
    lagSeconds: number;
    archivedBatches: number;
    trimmedReadings: number;
    writeFailures: number;
  } | null = null;
  verifyWorkerRestarts = 0;
  /** Feed updates (whole calls) that failed: reverted or not sent. */
  pushFailures = 0;
  /** Readings the pusher dropped and will never send, by reason (bridge/push/pusher.ts). */
  readonly pushDropped: Record<string, number> = {};
  /** Readings left out at the batch cut because they no longer verified, by reason (batcher.ts). */
  readonly leftOut: Record<string, number> = {};
  /** Times the submitter key's nonce was read again from the chain (bridge/chain-sender.ts). */
  nonceResyncs = 0;

  /** Count one reading under `reason` in a counter by reason. */
  countReason(counter: Record<string, number>, reason: string): void {
    counter[reason] = (counter[reason] ?? 0) + 1;
  }

  /** The batch interval the bridge runs with (seconds), for "no commit for N windows" alerts. */
  batchIntervalSeconds = 0;

  /** The bridge's own metrics; the process's are shared by every Metrics (processRegistry). */
  readonly registry: PromRegistry = new Registry();
  private committed = 0;
  /** When the last batch was committed, or when counting started (unix seconds). */
  private lastCommitAt = Date.now() / 1000;
  private queueDepth = 0;

  constructor() {
    const self = this;
    const registers = [this.registry];
    for (const [name, [help, value]] of Object.entries(COUNTERS)) {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(Number(value(self)));
        },
      });
    }
    new Counter({
      name: "sensor_oracle_readings_rejected_total",
      help: "Readings refused, by reason.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const r of REJECTION_REASONS) this.inc({ reason: r }, self.rejected[r]);
      },
    });
    for (const [name, help, counter] of [
      [
        "sensor_oracle_push_readings_dropped_total",
        "Readings the feed pusher dropped (skipped on-chain or failing a pre-check), by reason.",
        this.pushDropped,
      ],
      [
        "sensor_oracle_readings_left_out_total",
        "Readings left out of a batch at the cut because they no longer verified, by reason.",
        this.leftOut,
      ],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ["reason"],
        registers,
        collect() {
          this.reset();
          for (const [reason, n] of Object.entries(counter)) this.inc({ reason }, n);
        },
      });
    }
    for (const [name, [help, value]] of Object.entries(GAUGES)) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(self));
        },
      });
    }
  }

  /** Batches committed on-chain; counting one up also restarts the age of the last commit. */
  get batchesCommitted(): number {
    return this.committed;
  }

  set batchesCommitted(n: number) {
    if (n > this.committed) this.lastCommitAt = Date.now() / 1000;
    this.committed = n;
  }

  /** Seconds since the last commit (or since counting started, before the first one). */
  secondsSinceLastCommit(): number {
    return Math.max(0, Date.now() / 1000 - this.lastCommitAt);
  }

  reject(reason: RejectionReason): void {
    this.rejected[reason] += 1;
  }

  totalRejected(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  /**
   * Export the submitter's balance (ether), read at each scrape. A read that fails or takes longer
   * than 2 s leaves the last value; the gauge appears once the first read succeeded.
   */
  watchSubmitterBalance(read: () => Promise<bigint>): void {
    let last: number | undefined;
    new Gauge({
      name: "sensor_oracle_submitter_balance_ether",
      help: "Balance of the account that commits batches and pushes feeds (ether).",
      registers: [this.registry],
      async collect() {
        const wei = await withinTime<bigint | null>(read(), BALANCE_READ_MS, () => null).catch(() => null);
        if (wei !== null) last = Number(formatEther(wei));
        if (last === undefined) this.reset();
        else this.set(last);
      },
    });
  }

  /** Export when certificates expire (unix seconds), by label, read at each scrape. */
  watchCertificates(read: () => WatchedCertificate[]): void {
    new Gauge({
      name: "sensor_oracle_certificate_expiry_timestamp_seconds",
      help: "When a certificate the bridge depends on expires (unix seconds): bridge, fleet_ca, device_earliest.",
      labelNames: ["certificate"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of read())
          if (c.notAfter) this.set({ certificate: c.certificate }, c.notAfter.getTime() / 1000);
      },
    });
  }

  /** The Content-Type of what render() returns. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format: the process's, then the bridge's. */
  async render(queueDepth: number): Promise<string> {
    this.queueDepth = queueDepth;
    this.registerHistograms();
    const [proc, own] = await Promise.all([processRegistry().metrics(), this.registry.metrics()]);
    return `${proc}\n${own}`;
  }

  /** Histogram fields (those above and any added later) join the registry at the first render. */
  private registerHistograms(): void {
    for (const h of Object.values(this))
      if (h instanceof Histogram && !this.registry.getSingleMetric(h.name))
        this.registry.registerMetric(h.metric);
  }

  /** For GAUGES: the queue depth the last render() was given. */
  lastQueueDepth(): number {
    return this.queueDepth;
  }
}

let shared: PromRegistry | undefined;

/**
 * The process's metrics (process_*, nodejs_*: CPU, resident memory, heap, event-loop lag, GC),
 * collected once per process: every Metrics (tests start several bridges in one process) renders
 * the same ones, and their event-loop and GC observers are started once.
 */
function processRegistry(): PromRegistry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared, eventLoopMonitoringPrecision: 10 });
  }
  return shared;
}

type Value = (m: Metrics) => number | bigint;

/** The counters, by name: help and the field they read. */
const COUNTERS: Record<string, readonly [help: string, value: Value]> = {
  sensor_oracle_archived_batches_total: [
    "Batches written to the archive.",
    (m) => m.archive?.archivedBatches ?? 0,
  ],
  sensor_oracle_trimmed_readings_total: [
    "Archived readings removed from Redis.",
    (m) => m.archive?.trimmedReadings ?? 0,
  ],
  sensor_oracle_archive_failures_total: [
    "Archiver passes that failed (retried).",
    (m) => m.archive?.writeFailures ?? 0,
  ],
  sensor_oracle_readings_accepted_total: ["Readings verified and durably queued.", (m) => m.accepted],
  sensor_oracle_batches_committed_total: ["Batches committed on-chain.", (m) => m.batchesCommitted],
  sensor_oracle_readings_committed_total: ["Readings in committed batches.", (m) => m.readingsCommitted],
  sensor_oracle_commit_gas_used_total: ["Gas used by batch commits.", (m) => m.gasUsed],
  sensor_oracle_commit_failures_total: [
    "Commit attempts that failed and will be retried.",
    (m) => m.commitFailures,
  ],
  sensor_oracle_processing_errors_total: [
    "Readings not processed for an infrastructure failure (the device resends).",
    (m) => m.processingErrors,
  ],
  sensor_oracle_recommits_total: [
    "Batches committed again after a reorg dropped their transaction.",
    (m) => m.recommits,
  ],
  sensor_oracle_fee_bumps_total: ["Commit transactions sent again with higher fees.", (m) => m.feeBumps],
  sensor_oracle_feed_pushes_total: ["Pushed feed updates (deviation or heartbeat).", (m) => m.feedPushes],
  sensor_oracle_push_failures_total: [
    "Feed updates that failed as a whole (reverted or not sent); retried, bisected, then dropped.",
    (m) => m.pushFailures,
  ],
  sensor_oracle_nonce_resyncs_total: [
    "Times the submitter key's next nonce was read again from the chain.",
    (m) => m.nonceResyncs,
  ],
  sensor_oracle_verify_worker_restarts_total: [
    "Verify workers replaced after they exited (crash, out of memory, hung).",
    (m) => m.verifyWorkerRestarts,
  ],
};

/** The gauges, by name: help and what they read. */
const GAUGES: Record<string, readonly [help: string, value: (m: Metrics) => number]> = {
  sensor_oracle_archive_reachable: [
    "1 when the archive answered its last pass.",
    (m) => (m.archive?.reachable ? 1 : 0),
  ],
  sensor_oracle_archive_lag_batches: [
    "Final batches waiting in Redis for the archive.",
    (m) => m.archive?.lagBatches ?? 0,
  ],
  sensor_oracle_archive_lag_readings: ["Readings of those batches.", (m) => m.archive?.lagReadings ?? 0],
  sensor_oracle_archive_lag_seconds: [
    "Age of the oldest batch waiting for the archive.",
    (m) => m.archive?.lagSeconds ?? 0,
  ],
  sensor_oracle_queue_depth: ["Readings waiting for a batch.", (m) => m.lastQueueDepth()],
  sensor_oracle_seconds_since_last_commit: [
    "Seconds since this bridge last committed a batch (since its start, before the first).",
    (m) => m.secondsSinceLastCommit(),
  ],
  sensor_oracle_batch_interval_seconds: [
    "The batch interval this bridge runs with (seconds).",
    (m) => m.batchIntervalSeconds,
  ],
};
