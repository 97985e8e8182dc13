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
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} histogram`,
      ...this.bounds.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
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

  reject(reason: RejectionReason): void {
    this.rejected[reason] += 1;
  }

  totalRejected(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  render(queueDepth: number): string {
    const lines = [
      "# HELP sensor_oracle_readings_accepted_total Readings verified and durably queued.",
      "# TYPE sensor_oracle_readings_accepted_total counter",
      `sensor_oracle_readings_accepted_total ${this.accepted}`,
      "# HELP sensor_oracle_readings_rejected_total Readings refused, by reason.",
      "# TYPE sensor_oracle_readings_rejected_total counter",
      ...REJECTION_REASONS.map(
        (r) => `sensor_oracle_readings_rejected_total{reason="${r}"} ${this.rejected[r]}`,
      ),
      "# HELP sensor_oracle_queue_depth Readings waiting for a batch.",
      "# TYPE sensor_oracle_queue_depth gauge",
      `sensor_oracle_queue_depth ${queueDepth}`,
      "# HELP sensor_oracle_batches_committed_total Batches committed on-chain.",
      "# TYPE sensor_oracle_batches_committed_total counter",
      `sensor_oracle_batches_committed_total ${this.batchesCommitted}`,
      "# HELP sensor_oracle_readings_committed_total Readings in committed batches.",
      "# TYPE sensor_oracle_readings_committed_total counter",
      `sensor_oracle_readings_committed_total ${this.readingsCommitted}`,
      "# HELP sensor_oracle_commit_gas_used_total Gas used by batch commits.",
      "# TYPE sensor_oracle_commit_gas_used_total counter",
      `sensor_oracle_commit_gas_used_total ${this.gasUsed}`,
      "# HELP sensor_oracle_commit_failures_total Commit attempts that failed and will be retried.",
      "# TYPE sensor_oracle_commit_failures_total counter",
      `sensor_oracle_commit_failures_total ${this.commitFailures}`,
      "# HELP sensor_oracle_processing_errors_total Readings not processed for an infrastructure failure (the device resends).",
      "# TYPE sensor_oracle_processing_errors_total counter",
      `sensor_oracle_processing_errors_total ${this.processingErrors}`,
      "# HELP sensor_oracle_recommits_total Batches committed again after a reorg dropped their transaction.",
      "# TYPE sensor_oracle_recommits_total counter",
      `sensor_oracle_recommits_total ${this.recommits}`,
      "# HELP sensor_oracle_fee_bumps_total Commit transactions sent again with higher fees.",
      "# TYPE sensor_oracle_fee_bumps_total counter",
      `sensor_oracle_fee_bumps_total ${this.feeBumps}`,
      "# HELP sensor_oracle_feed_pushes_total Pushed feed updates (deviation or heartbeat).",
      "# TYPE sensor_oracle_feed_pushes_total counter",
      `sensor_oracle_feed_pushes_total ${this.feedPushes}`,
      "# HELP process_resident_memory_bytes Resident memory of the bridge process.",
      "# TYPE process_resident_memory_bytes gauge",
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
      "# HELP nodejs_heap_used_bytes V8 heap in use.",
      "# TYPE nodejs_heap_used_bytes gauge",
      `nodejs_heap_used_bytes ${process.memoryUsage().heapUsed}`,
      ...this.batchSize.render(),
      ...this.commitLatency.render(),
      ...this.verifyTime.render(),
    ];
    return `${lines.join("\n")}\n`;
  }
}
