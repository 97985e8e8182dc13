import type { Hex } from "viem";
import {
  type AcceptOutcome,
  type CommittedBatch,
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
  private readonly readings = new Map<string, StoredReading>();
  private queue: string[] = [];
  private inflight: PendingBatch | null = null;
  private batchSeq = 0;
  private readonly roots = new Map<string, Hex>();
  private readonly batches = new Map<Hex, CommittedBatch>();

  async accept(r: StoredReading, deviceName: string): Promise<AcceptOutcome> {
    const padded = padSequence(r.sequence);
    const last = this.seq.get(deviceName) ?? padSequence(0n);
    if (padded <= last) return "replay";
    if (last < gapFloor(BigInt(r.sequence))) return "gap";
    this.seq.set(deviceName, padded);
    this.readings.set(r.id, r);
    this.queue.push(r.id);
    return "queued";
  }

  async nextBatch(max: number): Promise<PendingBatch | null> {
    if (this.inflight) return this.inflight;
    if (this.queue.length === 0) return null;
    const ids = this.queue.slice(0, max);
    this.queue = this.queue.slice(ids.length);
    this.inflight = { seq: ++this.batchSeq, ids };
    return this.inflight;
  }

  async completeBatch(batch: PendingBatch, c: CommittedBatch): Promise<void> {
    if (!this.inflight || this.inflight.seq !== batch.seq) return;
    this.batches.set(c.root, c);
    for (const id of batch.ids) this.roots.set(id, c.root);
    this.inflight = null;
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
