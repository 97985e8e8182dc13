import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { sensorFeedsAbi } from "../chain/abi.js";
import type { Metrics } from "./metrics.js";
import type { ReadingStore, StoredReading } from "./store/types.js";

/** When a feed is pushed: on a relative change of at least `deviationBps`, or after `heartbeatSec`. */
export type PushedFeed = { feedId: Hex; deviationBps: number; heartbeatSec: number };

export type PusherParameters = {
  feeds: PushedFeed[];
  address: Hex;
  store: ReadingStore;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  metrics: Metrics;
  owner: string;
  onPushed?: (feedId: Hex, value: bigint, readings: number, txHash: Hex) => void;
  onError?: (err: unknown) => void;
};

const median = (values: bigint[]) => {
  const v = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] as bigint) : ((v[mid - 1] as bigint) + (v[mid] as bigint)) / 2n;
};

/**
 * Pushes verified readings to SensorFeeds, as Chainlink feeds do: when the median of the newest
 * readings moves by the feed's deviation threshold from the last pushed value, or when its
 * heartbeat is due. The contract checks every device signature again and takes only newer
 * readings. Only the submitter-lease holder pushes.
 */
export class FeedPusher {
  private readonly latest = new Map<Hex, Map<Hex, StoredReading>>();
  private readonly pushed = new Map<Hex, { value: bigint; at: number; sent: Set<string> }>();

  constructor(private readonly p: PusherParameters) {}

  /** Offer an accepted reading. */
  observe(r: StoredReading): void {
    if (!this.p.feeds.some((f) => f.feedId === r.feedId)) return;
    const perDevice = this.latest.get(r.feedId) ?? new Map<Hex, StoredReading>();
    const cur = perDevice.get(r.deviceId);
    if (!cur || BigInt(r.timestamp) > BigInt(cur.timestamp)) perDevice.set(r.deviceId, r);
    this.latest.set(r.feedId, perDevice);
  }

  /** Push every feed that is due; returns how many were pushed. */
  async tick(now = Date.now()): Promise<number> {
    if ((await this.p.store.lease(this.p.owner, 15_000)) === null) return 0;
    let n = 0;
    for (const feed of this.p.feeds) {
      const readings = [...(this.latest.get(feed.feedId)?.values() ?? [])];
      if (readings.length === 0) continue;
      const last = this.pushed.get(feed.feedId);
      const fresh = readings.filter((r) => !last?.sent.has(r.id));
      if (fresh.length === 0) continue;
      const value = median(readings.map((r) => BigInt(r.value)));
      const deviates =
        !last ||
        (last.value === 0n
          ? value !== 0n
          : ((value > last.value ? value - last.value : last.value - value) * 10_000n) /
              (last.value < 0n ? -last.value : last.value) >=
            BigInt(feed.deviationBps));
      const heartbeat = !!last && now - last.at >= feed.heartbeatSec * 1000;
      if (!deviates && !heartbeat) continue;
      try {
        const hash = await this.p.walletClient.writeContract({
          address: this.p.address,
          abi: sensorFeedsAbi,
          functionName: "updateFeeds",
          args: [
            fresh.map((r) => ({
              deviceId: r.deviceId,
              feedId: r.feedId,
              value: BigInt(r.value),
              timestamp: BigInt(r.timestamp),
              sequence: BigInt(r.sequence),
            })),
            fresh.map((r) => r.signature),
          ],
          chain: this.p.walletClient.chain,
          account: this.p.walletClient.account,
        });
        const receipt = await this.p.publicClient.waitForTransactionReceipt({ hash });
        if (receipt.status !== "success") throw new Error(`updateFeeds reverted (tx ${hash})`);
        this.pushed.set(feed.feedId, { value, at: now, sent: new Set(readings.map((r) => r.id)) });
        this.p.metrics.feedPushes += 1;
        this.p.onPushed?.(feed.feedId, value, fresh.length, hash);
        n++;
      } catch (err) {
        this.p.onError?.(err);
      }
    }
    return n;
  }
}
