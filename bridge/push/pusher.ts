import {
  type Account,
  type Chain,
  encodeFunctionData,
  type Hex,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { sensorFeedsAbi } from "../../chain/abi.js";
import { walkCauses } from "../../protocol/errors.js";
import type { Metrics } from "../metrics.js";
import type { ReadingValidity } from "../reading-validity.js";
import type { ReadingStore, StoredReading } from "../store/types.js";
import { sendWithFeeBumping } from "../submitter.js";
import { decidePush, type LastPush, median, type PushedFeed } from "./decide.js";
import { FeedUpdateRevertedError } from "./errors.js";

export type { PushedFeed } from "./decide.js";

/**
 * Why the pusher dropped a reading for good. The first seven are SensorFeeds' SkipReason values in
 * order (the contract skipped it; ISensorFeeds.sol); `revoked`, `no_key_at_time` and
 * `rotated_key` come from the pre-check against the registry (reading-validity.ts);
 * `call_reverted`: every update holding it alone reverted `maxFailures` times.
 */
export const SKIP_REASONS = [
  "unknown_feed",
  "device_not_allowed",
  "future_reading",
  "value_out_of_range",
  "unknown_device",
  "key_not_valid_at_time",
  "bad_signature",
] as const;
export type PushDropReason =
  | (typeof SKIP_REASONS)[number]
  | "revoked"
  | "no_key_at_time"
  | "rotated_key"
  | "call_reverted";

export type PusherParameters = {
  feeds: PushedFeed[];
  address: Hex;
  store: ReadingStore;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  metrics: Metrics;
  owner: string;
  /** Each reading is checked against the registry as it is now before it is pushed. */
  validity?: ReadingValidity;
  /** Reverted updates a reading may be sent alone in before it is dropped (default 3). */
  maxFailures?: number;
  /** How long a feed's device list read from the contract is used (default 60 s). */
  feedDevicesTtlMs?: number;
  /** An update not mined after this long is sent again with higher fees (default 60 s). */
  stuckAfterMs?: number;
  receiptPollMs?: number;
  onPushed?: (feedId: Hex, value: bigint, readings: number, txHash: Hex) => void;
  onDropped?: (reading: StoredReading, reason: PushDropReason) => void;
  onError?: (err: unknown) => void;
};

/** Readings dropped for good are remembered (never taken again) up to this many. */
const MAX_REMEMBERED_DROPS = 10_000;
const INT192_MAX = (1n << 191n) - 1n;
const INT192_MIN = -(1n << 191n);

/**
 * Pushes verified readings to SensorFeeds, as Chainlink feeds do: when the median of the newest
 * readings moves by the feed's deviation threshold from the last pushed value, or when its
 * heartbeat is due (decide.ts). The contract checks every device signature again and takes only
 * newer readings. Only the submitter-lease holder pushes; its transactions share the submitter
 * key's one sender with the batch commits (chain-sender.ts).
 *
 * No reading can hold a feed back: one that fails a pre-check (its device is not on the feed, its
 * value does not fit, the registry no longer has it verify) or that the contract skipped (its
 * ReadingSkipped event in the receipt) is dropped with a counted reason and never sent again. An
 * update that reverts as a whole is split in halves until the reading that makes it revert is
 * alone; a reading whose update reverts `maxFailures` times is dropped.
 */
export class FeedPusher {
  private readonly latest = new Map<Hex, Map<Hex, StoredReading>>();
  private readonly pushed = new Map<Hex, LastPush>();
  private readonly dropped = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly feedDevices = new Map<Hex, { at: number; devices: Set<Hex> | null }>();

  constructor(private readonly p: PusherParameters) {}

  /** Offer an accepted reading. */
  observe(r: StoredReading): void {
    if (!this.p.feeds.some((f) => f.feedId === r.feedId) || this.dropped.has(r.id)) return;
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
      try {
        await this.precheck(feed.feedId, now);
        const readings = [...(this.latest.get(feed.feedId)?.values() ?? [])];
        const last = this.pushed.get(feed.feedId);
        const due = decidePush(feed, readings, last, now);
        if (!due) continue;
        const { hash, landed } = await this.pushGroup(feed.feedId, due.fresh);
        // What the feed now holds: the readings sent before or taken now, less those dropped.
        const held = [...(this.latest.get(feed.feedId)?.values() ?? [])].filter(
          (r) => last?.sent.has(r.id) || landed.has(r.id),
        );
        if (held.length > 0) {
          this.pushed.set(feed.feedId, {
            value: median(held.map((r) => BigInt(r.value))),
            at: now,
            sent: new Set(held.map((r) => r.id)),
          });
        }
        this.p.metrics.feedPushes += 1;
        this.p.onPushed?.(feed.feedId, due.value, landed.size, hash);
        n++;
      } catch (err) {
        if (!isRevert(err)) this.p.metrics.pushFailures += 1; // reverts are counted as they happen
        this.p.onError?.(err);
      }
    }
    return n;
  }

  /**
   * Drop the readings that cannot be pushed: a device not on the feed (as the contract lists
   * them), a value outside int192, and (with `validity`) a reading that no longer verifies.
   */
  private async precheck(feedId: Hex, now: number): Promise<void> {
    const perDevice = this.latest.get(feedId);
    if (!perDevice || perDevice.size === 0) return;
    const devices = await this.devicesOf(feedId, now);
    // The registry unreachable: the contract still skips what no longer verifies.
    const invalid: Map<string, PushDropReason> = this.p.validity
      ? await this.p.validity.checkAll([...perDevice.values()]).catch(() => new Map())
      : new Map();
    for (const r of [...perDevice.values()]) {
      const value = BigInt(r.value);
      if (devices === null) this.drop(r, "unknown_feed");
      else if (devices !== undefined && !devices.has(r.deviceId.toLowerCase() as Hex))
        this.drop(r, "device_not_allowed");
      else if (value > INT192_MAX || value < INT192_MIN) this.drop(r, "value_out_of_range");
      else {
        const reason = invalid.get(r.id);
        if (reason) this.drop(r, reason);
      }
    }
  }

  /** The feed's devices as the contract lists them; null for an unknown feed, undefined if unread. */
  private async devicesOf(feedId: Hex, now: number): Promise<Set<Hex> | null | undefined> {
    const hit = this.feedDevices.get(feedId);
    if (hit && now - hit.at < (this.p.feedDevicesTtlMs ?? 60_000)) return hit.devices;
    try {
      const [, devices] = await this.p.publicClient.readContract({
        address: this.p.address,
        abi: sensorFeedsAbi,
        functionName: "getFeed",
        args: [feedId],
      });
      const set = new Set(devices.map((d) => d.toLowerCase() as Hex));
      this.feedDevices.set(feedId, { at: now, devices: set });
      return set;
    } catch (err) {
      if (isRevert(err)) {
        this.feedDevices.set(feedId, { at: now, devices: null }); // SensorFeedsUnknownFeed
        return null;
      }
      return undefined; // unreachable: the contract still skips what it cannot take
    }
  }

  /**
   * Send one update with these readings; on a revert of the whole call, the halves apart, down to
   * one reading, whose failures are counted (dropped at `maxFailures`). Resolves with a mined
   * update's hash and the readings that landed; throws when none did.
   */
  private async pushGroup(
    feedId: Hex,
    readings: StoredReading[],
  ): Promise<{ hash: Hex; landed: Set<string> }> {
    try {
      const receipt = await this.send(feedId, readings);
      const skipped = this.applyReceipt(readings, receipt);
      for (const r of readings) this.failures.delete(r.id);
      return {
        hash: receipt.transactionHash,
        landed: new Set(readings.filter((r) => !skipped.has(r.id)).map((r) => r.id)),
      };
    } catch (err) {
      if (!isRevert(err)) throw err;
      this.p.metrics.pushFailures += 1;
      if (readings.length === 1) {
        const r = readings[0] as StoredReading;
        const failures = (this.failures.get(r.id) ?? 0) + 1;
        if (failures >= (this.p.maxFailures ?? 3)) this.drop(r, "call_reverted");
        else this.failures.set(r.id, failures);
        throw err;
      }
      const mid = Math.ceil(readings.length / 2);
      let hash: Hex | null = null;
      const landed = new Set<string>();
      let failure: unknown = err;
      for (const part of [readings.slice(0, mid), readings.slice(mid)]) {
        try {
          const r = await this.pushGroup(feedId, part);
          hash = r.hash;
          for (const id of r.landed) landed.add(id);
        } catch (e) {
          failure = e;
        }
      }
      if (hash) return { hash, landed };
      throw failure;
    }
  }

  /** Drop each reading the contract skipped (its ReadingSkipped event); returns their ids. */
  private applyReceipt(readings: StoredReading[], receipt: TransactionReceipt): Set<string> {
    const skipped = new Set<string>();
    const logs = parseEventLogs({
      abi: sensorFeedsAbi,
      eventName: "ReadingSkipped",
      logs: receipt.logs.filter((l) => l.address.toLowerCase() === this.p.address.toLowerCase()),
    });
    for (const log of logs) {
      const { feedId, deviceId, timestamp, reason } = log.args;
      const r = readings.find(
        (x) =>
          x.feedId.toLowerCase() === feedId.toLowerCase() &&
          x.deviceId.toLowerCase() === deviceId.toLowerCase() &&
          BigInt(x.timestamp) === timestamp,
      );
      if (!r) continue;
      skipped.add(r.id);
      const why = SKIP_REASONS[reason] ?? "bad_signature";
      if (why === "device_not_allowed") this.feedDevices.delete(r.feedId); // our list is stale
      this.drop(r, why);
    }
    return skipped;
  }

  /** Forget a reading for good, counted by reason. */
  private drop(r: StoredReading, reason: PushDropReason): void {
    const perDevice = this.latest.get(r.feedId);
    if (perDevice?.get(r.deviceId)?.id === r.id) perDevice.delete(r.deviceId);
    this.failures.delete(r.id);
    if (this.dropped.size >= MAX_REMEMBERED_DROPS)
      this.dropped.delete(this.dropped.values().next().value as string);
    this.dropped.add(r.id);
    this.p.metrics.countReason(this.p.metrics.pushDropped, reason);
    this.p.onDropped?.(r, reason);
  }

  /** One updateFeeds transaction with the readings and their signatures, through the key's sender. */
  private async send(feedId: Hex, readings: StoredReading[]): Promise<TransactionReceipt> {
    const data = encodeFunctionData({
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
    });
    const { hash, receipt } = await sendWithFeeBumping(
      {
        publicClient: this.p.publicClient,
        walletClient: this.p.walletClient,
        to: this.p.address,
        metrics: this.p.metrics,
        ...(this.p.stuckAfterMs !== undefined ? { stuckAfterMs: this.p.stuckAfterMs } : {}),
        ...(this.p.receiptPollMs !== undefined ? { receiptPollMs: this.p.receiptPollMs } : {}),
      },
      data,
      `push of feed ${feedId}`,
    );
    if (receipt.status !== "success") throw new FeedUpdateRevertedError(hash);
    return receipt;
  }
}

/** Whether the chain refused the call itself (a revert, in simulation or mined), not the way to it. */
function isRevert(err: unknown): boolean {
  return (
    walkCauses(err, (e) => {
      const name = (e as Error)?.name;
      return (
        e instanceof FeedUpdateRevertedError ||
        name === "ExecutionRevertedError" ||
        name === "ContractFunctionRevertedError" ||
        /revert/i.test((e as Error)?.message ?? "")
      );
    }) !== null
  );
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
