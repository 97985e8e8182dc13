import type { Logger } from "pino";

export type RejectionLogParameters = {
  log: Pick<Logger, "warn">;
  /** The line's message (default "reading rejected"); the summary says it in the plural. */
  message?: string;
  /** Length of one logging window (default 10 s). */
  intervalMs?: number;
  /** Rejections logged line by line per window (default 10); the rest only in the window's summary. */
  detailedPerWindow?: number;
  /** Devices named in a window's summary, most rejected first (default 5). */
  topDevices?: number;
};

/**
 * Rejection logging with bounded output: one device sending garbage at full speed must not turn
 * into a line per message (measured before: 27 MB for 100,000 messages). The first rejections of
 * each window are logged in full; the rest are counted, and each window that had more ends with one
 * summary line (counts per reason and the devices with most rejections). The metrics counters stay
 * exact: they are counted apart from this log.
 */
export class RejectionLog {
  private readonly intervalMs: number;
  private readonly detailedPerWindow: number;
  private readonly topDevices: number;
  private windowStart = 0;
  private detailed = 0;
  private suppressed = 0;
  private byReason = new Map<string, number>();
  private byDevice = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly p: RejectionLogParameters) {
    this.intervalMs = p.intervalMs ?? 10_000;
    this.detailedPerWindow = p.detailedPerWindow ?? 10;
    this.topDevices = p.topDevices ?? 5;
  }

  /** Record one rejection; logs it in full while the window's detail budget lasts. */
  record(
    device: string | null,
    reason: string,
    details: string | undefined,
    now = Date.now(),
    fields: Record<string, unknown> = {},
  ): void {
    if (now - this.windowStart >= this.intervalMs) this.flush(now);
    if (this.detailed < this.detailedPerWindow) {
      this.detailed += 1;
      this.p.log.warn(
        { device, reason, details: details?.slice(0, 200), ...fields },
        this.p.message ?? "reading rejected",
      );
      return;
    }
    this.suppressed += 1;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    // Bounded too: a flood from many certificates must not grow the map without end.
    const key = device ?? "(no device)";
    if (this.byDevice.has(key) || this.byDevice.size < 1_000)
      this.byDevice.set(key, (this.byDevice.get(key) ?? 0) + 1);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(Date.now()), this.intervalMs);
      this.timer.unref();
    }
  }

  /** End the window: one summary line if rejections went unlogged in it. */
  flush(now = Date.now()): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed > 0) {
      const devices = [...this.byDevice.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, this.topDevices)
        .map(([device, count]) => ({ device, count }));
      this.p.log.warn(
        { unlogged: this.suppressed, reasons: Object.fromEntries(this.byReason), devices },
        `${this.p.message ?? "reading rejected"} (summary of those not logged one by one)`,
      );
    }
    this.windowStart = now;
    this.detailed = 0;
    this.suppressed = 0;
    this.byReason = new Map();
    this.byDevice = new Map();
  }
}
