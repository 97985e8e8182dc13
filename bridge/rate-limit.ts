/**
 * Per-device token buckets: a device may send `perSecond` readings a second on average and
 * `burst` at once. Checked before any signature work, so a flooding device costs the bridge little
 * and cannot starve the others. In memory, per bridge process: with N bridges sharing the load a
 * device's budget is at most N times this (the shared subscription spreads its messages).
 */
export class DeviceRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !(burst >= 1))
      throw new RangeError("rate limit needs perSecond > 0 and burst >= 1");
  }

  /** Take one token for the device; false when it has none left. */
  take(device: string): boolean {
    const t = this.now();
    const b = this.buckets.get(device) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(device, b);
    if (this.buckets.size > 200_000) this.buckets.clear();
    return ok;
  }

  /**
   * How long the device should wait before sending again (ms): until its bucket is full, so that
   * what it kept back fits in one burst. 0 for a device with a full bucket.
   */
  retryAfterMs(device: string): number {
    const b = this.buckets.get(device);
    if (!b) return 0;
    const tokens = Math.min(this.burst, b.tokens + ((this.now() - b.at) / 1000) * this.perSecond);
    return Math.ceil(((this.burst - tokens) / this.perSecond) * 1000);
  }
}
