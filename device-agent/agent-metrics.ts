import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Outbox } from "./outbox.js";

const P = "sensor_oracle_agent_";

/**
 * The agent's Prometheus metrics (prom-client, with its default process metrics), in a registry
 * of its own: counters the agent increments, and gauges read from the outbox when scraped.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly taken = new Counter({
    name: `${P}readings_taken_total`,
    help: "Readings taken: signed and committed to the outbox",
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: `${P}readings_refused_total`,
    help: "Readings refused by the agent before storing them, by reason (outbox_full, unknown_feed, ...)",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly sent = new Counter({
    name: `${P}readings_sent_total`,
    help: "Readings published for the first time by this run",
    registers: [this.registry],
  });
  readonly resent = new Counter({
    name: `${P}readings_resent_total`,
    help: "Readings published again (no answer in time, after a pause or a reconnect)",
    registers: [this.registry],
  });
  readonly acknowledged = new Counter({
    name: `${P}readings_acknowledged_total`,
    help: "Answers `queued`: the bridge stored the reading durably",
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: `${P}readings_rejected_total`,
    help: "Answers other than `queued`, by status and reason (rate_limited and retry are resent)",
    labelNames: ["status", "reason"],
    registers: [this.registry],
  });
  readonly replayAlarms = new Counter({
    name: `${P}replay_alarms_total`,
    help: "`replay` answers for readings no earlier copy of which was sent: not delivered, held",
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: `${P}reconnects_total`,
    help: "Connections to the broker made again after one was lost",
    registers: [this.registry],
  });
  readonly connected = new Gauge({
    name: `${P}broker_connected`,
    help: "1 while connected to the broker",
    registers: [this.registry],
  });
  readonly signingSeconds = new Histogram({
    name: `${P}signing_seconds`,
    help: "Time to sign one reading (software key or token)",
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly certificateNotAfter = new Gauge({
    name: `${P}certificate_not_after_seconds`,
    help: "The device certificate's notAfter, unix seconds",
    registers: [this.registry],
  });
  private outbox: Outbox | undefined;
  private notAfterMs: number | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;
    const outboxGauge = (name: string, help: string, value: (o: Outbox) => number) => {
      new Gauge({
        name: `${P}${name}`,
        help,
        registers: [this.registry],
        collect() {
          if (self.outbox) this.set(value(self.outbox));
        },
      });
    };
    outboxGauge("outbox_readings", "Readings in the outbox (unacknowledged or held)", (o) => o.depth);
    outboxGauge("outbox_bytes", "Bytes the outbox's readings count against its quota", (o) => o.bytes);
    outboxGauge("outbox_quota_bytes", "The outbox's quota in bytes", (o) => o.quotaBytes);
    outboxGauge("outbox_file_bytes", "The outbox's database and WAL files on disk", (o) => o.fileBytes());
    outboxGauge(
      "outbox_held_readings",
      "Readings held for an operator (unconfirmed, replay alarms)",
      (o) => o.held,
    );
    outboxGauge("outbox_full", "1 while the outbox refuses new readings", (o) =>
      o.wouldRefuse(300) ? 1 : 0,
    );
    outboxGauge(
      "oldest_unacknowledged_seconds",
      "Age of the oldest reading in the outbox (since stored)",
      (o) => {
        const oldest = o.oldest();
        return oldest ? (Date.now() - oldest.storedAtMs) / 1000 : 0;
      },
    );
    new Gauge({
      name: `${P}certificate_expires_in_seconds`,
      help: "Seconds until the device certificate expires (negative once expired)",
      registers: [this.registry],
      collect() {
        if (self.notAfterMs !== undefined) this.set(Math.floor((self.notAfterMs - Date.now()) / 1000));
      },
    });
  }

  /** The outbox the gauges read. */
  observeOutbox(outbox: Outbox): void {
    this.outbox = outbox;
  }

  /** The device certificate's expiry, for the two certificate gauges. */
  observeCertificate(notAfter: Date): void {
    this.notAfterMs = notAfter.getTime();
    this.certificateNotAfter.set(Math.floor(this.notAfterMs / 1000));
  }

  /** The text exposition (for GET /metrics). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
