import { REJECTION_REASONS, type RejectionReason } from "../protocol/index.js";

/** A Prometheus histogram with fixed upper bounds. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count += 1;
    for (let i = 0; i < this.bounds.length; i++)
      if (v <= (this.bounds[i] as number)) this.counts[i] = (this.counts[i] as number) + 1;
  }

  render(): string[] {
    return metric(this.name, "histogram", this.help, [
      ...this.bounds.map((b, i) => [`_bucket{le="${b}"}`, this.counts[i] as number] as const),
      [`_bucket{le="+Inf"}`, this.count],
      ["_sum", this.sum],
      ["_count", this.count],
    ]);
  }
}

/** The bridge's counters, rendered in Prometheus text format. */
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
  batchesCommitted = 0;
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

  reject(reason: RejectionReason): void {
    this.rejected[reason] += 1;
  }

  totalRejected(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  render(queueDepth: number): string {
    const lines = [
      ...metric("sensor_oracle_readings_accepted_total", "counter", "Readings verified and durably queued.", [
        ["", this.accepted],
      ]),
      ...metric(
        "sensor_oracle_readings_rejected_total",
        "counter",
        "Readings refused, by reason.",
        REJECTION_REASONS.map((r) => [`{reason="${r}"}`, this.rejected[r]]),
      ),
      ...metric("sensor_oracle_queue_depth", "gauge", "Readings waiting for a batch.", [["", queueDepth]]),
      ...Object.entries(COUNTERS).flatMap(([name, [help, value]]) =>
        metric(name, "counter", help, [["", value(this)]]),
      ),
      ...metric("process_resident_memory_bytes", "gauge", "Resident memory of the bridge process.", [
        ["", process.memoryUsage.rss()],
      ]),
      ...metric("nodejs_heap_used_bytes", "gauge", "V8 heap in use.", [["", process.memoryUsage().heapUsed]]),
      ...(this.archive ? renderArchive(this.archive) : []),
      ...this.batchSize.render(),
      ...this.commitLatency.render(),
      ...this.verifyTime.render(),
    ];
    return `${lines.join("\n")}\n`;
  }
}

type MetricType = "counter" | "gauge" | "histogram";

/** The archive lag (final batches in Redis not yet in the archive) and the archiver's counters. */
function renderArchive(a: NonNullable<Metrics["archive"]>): string[] {
  return [
    ...metric("sensor_oracle_archive_reachable", "gauge", "1 when the archive answered its last pass.", [
      ["", a.reachable ? 1 : 0],
    ]),
    ...metric(
      "sensor_oracle_archive_lag_batches",
      "gauge",
      "Final batches waiting in Redis for the archive.",
      [["", a.lagBatches]],
    ),
    ...metric("sensor_oracle_archive_lag_readings", "gauge", "Readings of those batches.", [
      ["", a.lagReadings],
    ]),
    ...metric(
      "sensor_oracle_archive_lag_seconds",
      "gauge",
      "Age of the oldest batch waiting for the archive.",
      [["", a.lagSeconds]],
    ),
    ...metric("sensor_oracle_archived_batches_total", "counter", "Batches written to the archive.", [
      ["", a.archivedBatches],
    ]),
    ...metric("sensor_oracle_trimmed_readings_total", "counter", "Archived readings removed from Redis.", [
      ["", a.trimmedReadings],
    ]),
    ...metric("sensor_oracle_archive_failures_total", "counter", "Archiver passes that failed (retried).", [
      ["", a.writeFailures],
    ]),
  ];
}

/** HELP and TYPE lines, then one sample line per (suffix and labels, value). */
function metric(
  name: string,
  type: MetricType,
  help: string,
  samples: readonly (readonly [suffix: string, value: number | bigint])[],
): string[] {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([suffix, value]) => `${name}${suffix} ${value}`),
  ];
}

type Value = (m: Metrics) => number | bigint;

/** The counters rendered after the queue depth, by name: help and value. */
const COUNTERS: Record<string, readonly [help: string, value: Value]> = {
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
};
