import { REJECTION_REASONS, type RejectionReason } from "../protocol/index.js";

/** The bridge's counters, rendered in Prometheus text format. */
export class Metrics {
  accepted = 0;
  readonly rejected: Record<RejectionReason, number> = Object.fromEntries(
    REJECTION_REASONS.map((r) => [r, 0]),
  ) as Record<RejectionReason, number>;
  batchesCommitted = 0;
  readingsCommitted = 0;
  gasUsed = 0n;
  commitFailures = 0;
  processingErrors = 0;

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
    ];
    return `${lines.join("\n")}\n`;
  }
}
