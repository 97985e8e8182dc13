import type { Hex } from "viem";
import { type DurabilityReport, MEMORY_DURABILITY } from "./durability.js";
import {
  type AcceptOutcome,
  type CommittedBatch,
  type FeedLatest,
  gapFloor,
  type PendingBatch,
  padSequence,
  type ReadingStore,
  type StoredReading,
} from "./types.js";

/** In-process store with RedisStore's semantics. Not durable: for the demo without REDIS_URL only. */
export class MemoryStore implements ReadingStore {
  readonly durable = false;
  private readonly seq = new Map<string, string>();
  private readonly feedLatest = new Map<Hex, FeedLatest>();
  private readonly unfinal = new Set<Hex>();
  private readonly readings = new Map<string, StoredReading>();
  private queue: string[] = [];
  private inflight: PendingBatch | null = null;
  private batchSeq = 0;
  private readonly roots = new Map<string, Hex>();
  private readonly batches = new Map<Hex, CommittedBatch>();

  async accept(r: StoredReading, deviceName: string): Promise<AcceptOutcome> {
    const seq = BigInt(r.sequence);
    const padded = padSequence(seq);
    const last = this.seq.get(deviceName) ?? padSequence(0n);
    if (padded > last) {
      if (last < gapFloor(seq)) return "gap";
      this.seq.set(deviceName, padded);
    } else {
      const held = this.readings.get(r.id);
      if (held) return sameSignedContent(held, r) ? "replay" : "conflict";
      // Not held: never accepted (every accepted reading is kept), so new however late.
    }
    this.readings.set(r.id, r);
    this.queue.push(r.id);
    return "queued";
  }

  /** One process, one submitter: the lease is always this store's. */
  async lease(_owner: string, _ttlMs: number): Promise<number | null> {
    return 1;
  }

  async releaseLease(_owner: string): Promise<boolean> {
    return true;
  }

  async checkDurability(): Promise<DurabilityReport> {
    return MEMORY_DURABILITY;
  }

  async nextBatch(max: number, _fence: number): Promise<PendingBatch | null> {
    if (this.inflight) return this.inflight;
    if (this.queue.length === 0) return null;
    const ids = this.queue.slice(0, max);
    this.queue = this.queue.slice(ids.length);
    this.inflight = { seq: ++this.batchSeq, ids };
    return this.inflight;
  }

  async completeBatch(
    batch: PendingBatch,
    c: CommittedBatch,
    _fence: number,
    feeds: FeedLatest[] = [],
  ): Promise<void> {
    if (!this.inflight || this.inflight.seq !== batch.seq) return;
    this.batches.set(c.root, c);
    this.unfinal.add(c.root);
    for (const id of batch.ids) this.roots.set(id, c.root);
    for (const f of feeds) {
      const cur = this.feedLatest.get(f.feedId);
      if (!cur || BigInt(f.timestamp) >= BigInt(cur.timestamp)) this.feedLatest.set(f.feedId, f);
    }
    this.inflight = null;
  }

  async unfinalizedBatches(): Promise<CommittedBatch[]> {
    return [...this.unfinal].map((r) => this.batches.get(r) as CommittedBatch);
  }

  async updateBatch(batch: CommittedBatch, final: boolean): Promise<void> {
    this.batches.set(batch.root, batch);
    if (final) this.unfinal.delete(batch.root);
  }

  async latestOfFeed(feedId: Hex): Promise<string | null> {
    return this.feedLatest.get(feedId)?.id ?? null;
  }

  async lastSequence(deviceName: string): Promise<bigint | null> {
    const v = this.seq.get(deviceName);
    return v === undefined ? null : BigInt(v);
  }

  async getReadings(ids: string[]): Promise<(StoredReading | null)[]> {
    return ids.map((id) => this.readings.get(id) ?? null);
  }

  async rootOf(id: string): Promise<Hex | null> {
    return this.roots.get(id) ?? null;
  }

  async getBatch(root: Hex): Promise<CommittedBatch | null> {
    return this.batches.get(root) ?? null;
  }

  async queueDepth(): Promise<number> {
    return this.queue.length;
  }

  async close(): Promise<void> {}
}

const sameSignedContent = (a: StoredReading, b: StoredReading) =>
  a.deviceId === b.deviceId && a.feedId === b.feedId && a.value === b.value && a.timestamp === b.timestamp;
