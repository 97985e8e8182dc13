import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { sensorFeedsAbi } from "../../chain/abi.js";
import type { Metrics } from "../metrics.js";
import type { ReadingStore, StoredReading } from "../store/types.js";
import { decidePush, type LastPush, type PushedFeed } from "./decide.js";

export type { PushedFeed } from "./decide.js";

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

/**
 * Pushes verified readings to SensorFeeds, as Chainlink feeds do: when the median of the newest
 * readings moves by the feed's deviation threshold from the last pushed value, or when its
 * heartbeat is due (decide.ts). The contract checks every device signature again and takes only
 * newer readings. Only the submitter-lease holder pushes.
 */
export class FeedPusher {
  private readonly latest = new Map<Hex, Map<Hex, StoredReading>>();
  private readonly pushed = new Map<Hex, LastPush>();

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
      const due = decidePush(feed, readings, this.pushed.get(feed.feedId), now);
      if (!due) continue;
      try {
        const hash = await this.send(due.fresh);
        this.pushed.set(feed.feedId, { value: due.value, at: now, sent: new Set(readings.map((r) => r.id)) });
        this.p.metrics.feedPushes += 1;
        this.p.onPushed?.(feed.feedId, due.value, due.fresh.length, hash);
        n++;
      } catch (err) {
        this.p.onError?.(err);
      }
    }
    return n;
  }

  /** One updateFeeds transaction with the readings and their signatures, awaited. */
  private async send(readings: StoredReading[]): Promise<Hex> {
    const hash = await this.p.walletClient.writeContract({
      address: this.p.address,
      abi: sensorFeedsAbi,
      functionName: "updateFeeds",
      args: [
        readings.map((r) => ({
          deviceId: r.deviceId,
          feedId: r.feedId,
          value: BigInt(r.value),
          timestamp: BigInt(r.timestamp),
          sequence: BigInt(r.sequence),
        })),
        readings.map((r) => r.signature),
      ],
      chain: this.p.walletClient.chain,
      account: this.p.walletClient.account,
    });
    const receipt = await this.p.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`updateFeeds reverted (tx ${hash})`);
    return hash;
  }
}

/** Ticks of a pusher, one at a time: every `intervalMs`, and on demand. */
export type PushSchedule = {
  /** Push the feeds that are due now (after any tick under way); returns how many were pushed. */
  pushNow(): Promise<number>;
  /** Stop ticking and wait for the tick under way. */
  stop(): Promise<void>;
};

export function schedulePushes(pusher: FeedPusher, intervalMs: number): PushSchedule {
  let pushing = Promise.resolve(0);
  const pushNow = () => {
    pushing = pushing.then(() => pusher.tick());
    return pushing;
  };
  const timer = setInterval(() => void pushNow(), intervalMs);
  return {
    pushNow,
    async stop() {
      clearInterval(timer);
      await pushing;
    },
  };
}
