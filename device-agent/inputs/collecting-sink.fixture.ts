import type { ReadingSink, TakenReading } from "../reading-sink.js";

/** Stands for the agent's OutboxFullError (device-agent/errors.ts on the outbox branch): matched by name. */
export class OutboxFullError extends Error {
  override name = "OutboxFullError";
}

/**
 * A ReadingSink for the input tests: keeps what it takes in an array and numbers it from 1; when
 * `full` is set it refuses like an outbox at its quota.
 */
export class CollectingSink implements ReadingSink {
  readonly readings: (TakenReading & { sequence: bigint })[] = [];
  full = false;
  /** Each take waits this long first (a slow token, a busy disk). */
  delayMs = 0;

  async take(r: TakenReading): Promise<{ sequence: bigint }> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.full) throw new OutboxFullError("outbox at its quota (test)");
    const sequence = BigInt(this.readings.length + 1);
    this.readings.push({ ...r, sequence });
    return { sequence };
  }
}
