import type { Hex } from "viem";
import type { AcceptedReading } from "../checks.js";
import type { CommittedBatch } from "../store/types.js";

/** Answers that are not refusals of the device's reading (see FleetActivity.rejected). */
const NOT_REFUSALS = new Set(["replay", "unavailable"]);

/** What this bridge saw of one device since it started. */
export type DeviceActivity = {
  name: string;
  /** Readings this bridge accepted from the device. */
  accepted: number;
  /** Readings it refused, by reason (replays and store outages apart; rate limiting is counted in /metrics only). */
  rejections: Record<string, number>;
  lastRejection: { reason: string; at: number } | null;
  /** When this bridge last heard from the device (ms since the epoch). */
  lastSeenAt: number;
};

/** One accepted reading of a feed, as the fleet page charts it. */
export type FeedPoint = { id: string; value: string; timestamp: string; receivedAt: number };

/** A committed batch, as the fleet page lists it. */
export type BatchActivity = {
  root: Hex;
  txHash: Hex;
  blockNumber: string;
  gasUsed: string;
  committedAt: number;
  readings: number;
  leftOut: number;
};

export type FleetActivityParameters = {
  /** Devices remembered at most; the least recently seen are forgotten first (default 10,000). */
  maxDevices?: number;
  /** Feeds remembered at most; the least recently fed are forgotten first (default 1,000). */
  maxFeeds?: number;
  /** Accepted readings kept per feed for its chart (default 60). */
  pointsPerFeed?: number;
  /** Committed batches kept (default 50). */
  batches?: number;
};

/**
 * What this bridge saw since it started, for the fleet page (fleet-summary.ts): per device its
 * accepted and refused readings, per feed its last accepted values, the last committed batches.
 * Held in memory and bounded; fed by the bridge's onAccepted, onRejected and onCommitted hooks.
 * With several bridges each holds its share of the fleet (the store holds the whole).
 */
export class FleetActivity {
  readonly startedAt = Date.now();
  private readonly deviceMap = new Map<string, DeviceActivity>();
  private readonly feedMap = new Map<Hex, FeedPoint[]>();
  private readonly batchList: BatchActivity[] = [];
  private readonly maxDevices: number;
  private readonly maxFeeds: number;
  private readonly pointsPerFeed: number;
  private readonly maxBatches: number;

  constructor(p: FleetActivityParameters = {}) {
    this.maxDevices = p.maxDevices ?? 10_000;
    this.maxFeeds = p.maxFeeds ?? 1_000;
    this.pointsPerFeed = p.pointsPerFeed ?? 60;
    this.maxBatches = p.batches ?? 50;
  }

  /** A reading was accepted (queued). */
  accepted({ stored }: AcceptedReading, now = Date.now()): void {
    const device = this.touch(stored.id.slice(0, stored.id.indexOf(":")), now);
    device.accepted += 1;
    const points = this.feedMap.get(stored.feedId) ?? [];
    this.feedMap.delete(stored.feedId); // re-inserted last: the most recently fed
    points.push({
      id: stored.id,
      value: stored.value,
      timestamp: stored.timestamp,
      receivedAt: stored.receivedAt,
    });
    if (points.length > this.pointsPerFeed) points.splice(0, points.length - this.pointsPerFeed);
    this.feedMap.set(stored.feedId, points);
    if (this.feedMap.size > this.maxFeeds) this.feedMap.delete(this.feedMap.keys().next().value as Hex);
  }

  /**
   * A reading was refused; `deviceName` is null for a message on an unexpected topic (not tracked).
   * A `replay` (the bridge already holds the reading: a delivery) and `unavailable` (the store
   * refused writes for a while: the device sends it again) are not the device's faults and are not
   * counted as refusals.
   */
  rejected(deviceName: string | null, reason: string, now = Date.now()): void {
    if (deviceName === null) return;
    const device = this.touch(deviceName, now);
    if (NOT_REFUSALS.has(reason)) return;
    device.rejections[reason] = (device.rejections[reason] ?? 0) + 1;
    device.lastRejection = { reason, at: now };
  }

  /** A batch was committed. */
  committed(b: CommittedBatch): void {
    this.batchList.unshift({
      root: b.root,
      txHash: b.txHash,
      blockNumber: b.blockNumber,
      gasUsed: b.gasUsed,
      committedAt: b.committedAt,
      readings: b.ids.length,
      leftOut: b.leftOut?.length ?? 0,
    });
    if (this.batchList.length > this.maxBatches) this.batchList.length = this.maxBatches;
  }

  /** The devices seen, most recently seen first. */
  devices(): DeviceActivity[] {
    return [...this.deviceMap.values()].reverse();
  }

  /** The feeds fed, most recently fed first, each with its last accepted readings (oldest first). */
  feeds(): { feedId: Hex; points: FeedPoint[] }[] {
    return [...this.feedMap].reverse().map(([feedId, points]) => ({ feedId, points: [...points] }));
  }

  /** The last committed batches, newest first. */
  batches(): BatchActivity[] {
    return [...this.batchList];
  }

  private touch(name: string, now: number): DeviceActivity {
    const device = this.deviceMap.get(name) ?? {
      name,
      accepted: 0,
      rejections: {},
      lastRejection: null,
      lastSeenAt: now,
    };
    this.deviceMap.delete(name); // re-inserted last: the most recently seen
    device.lastSeenAt = now;
    this.deviceMap.set(name, device);
    if (this.deviceMap.size > this.maxDevices)
      this.deviceMap.delete(this.deviceMap.keys().next().value as string);
    return device;
  }
}
