import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CurveName } from "../protocol/index.js";
import { DEFAULT_P256_KEY_CACHE_BYTES } from "../protocol/p256-key.mjs";
import { VerifyCheckFailedError, VerifyPoolClosedError } from "./errors.js";

/**
 * Signature checks (P-256 and secp256k1) on worker threads. On the bridge's hot path the check is
 * about half the CPU of a reading; the other half (MQTT, TLS, JSON, Redis) stays on the main
 * thread. Jobs of one event-loop turn go as transferred buffers of fixed-size records (curve byte,
 * 65-byte key, 32-byte digest, 64-byte signature), split across the live workers; the answers come
 * back as one byte each. The caller has already refused malformed input.
 *
 * The pool heals: a worker that exits (crash, out of memory, terminate) is replaced, and the checks
 * it held are queued again for a live worker. A check that was on a worker when it died is sent
 * again alone, so a check that kills workers only counts against itself: after `maxAttempts`
 * deaths it fails with VerifyCheckFailedError, and nothing waits forever. A batch not answered
 * within `batchTimeoutMs` (a hung worker) terminates its worker the same way.
 */

export { RECORD } from "./verify-records.mjs";

import { RECORD } from "./verify-records.mjs";

const CURVE_BYTE: Record<CurveName, number> = { p256: 0, secp256k1: 1 };

/**
 * Workers by default: the cores left beside the main thread, at least one, at most four. Measured
 * on 2 cores (docs/BENCHMARKS.md): one worker keeps the main thread and the worker each on a core;
 * a second worker only competes with the main thread for the same two cores.
 */
export function defaultVerifyWorkers(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1));
}

export type VerifyPoolOptions = {
  /** Worker threads (default defaultVerifyWorkers()). */
  workers?: number;
  /** Deaths of a worker holding a check before that check fails (default 3). */
  maxAttempts?: number;
  /** A batch not answered in this time terminates its worker (default 30 s). */
  batchTimeoutMs?: number;
  /** Memory budget of each worker's P-256 key cache in bytes (default 24 MiB, about 8,400 keys). */
  keyCacheBytes?: number;
  /** Called when a worker exits unasked, with why; the pool has already queued its checks again. */
  onWorkerExit?: (info: { worker: number; reason: string; requeued: number; failed: number }) => void;
  /** The worker's module (tests substitute one that crashes on purpose). */
  workerUrl?: URL;
};

export type VerifyPoolStatus = {
  /** Workers configured. */
  size: number;
  /** Workers running now. */
  live: number;
  /** Workers replaced since start. */
  restarts: number;
  /** Checks waiting for a worker, and checks on workers. */
  queued: number;
  inFlight: number;
};

type Job = {
  curve: number;
  key: Uint8Array;
  digest: Uint8Array;
  signature: Uint8Array;
  attempts: number;
  resolve: (result: number) => void;
  reject: (err: unknown) => void;
};

type Slot = {
  index: number;
  worker: Worker | null;
  batches: Map<number, { jobs: Job[]; timer: NodeJS.Timeout }>;
  /** Exits in a row without an answered batch in between (for the respawn backoff). */
  crashes: number;
  lastError: string | null;
};

export class VerifyPool {
  readonly #opts: Required<Omit<VerifyPoolOptions, "onWorkerExit">> & {
    onWorkerExit: VerifyPoolOptions["onWorkerExit"] | undefined;
  };
  readonly #slots: Slot[];
  #queue: Job[] = [];
  #nextBatch = 0;
  #nextSlot = 0;
  #scheduled = false;
  #closed = false;
  #restarts = 0;

  constructor(opts: VerifyPoolOptions = {}) {
    this.#opts = {
      workers: Math.max(1, opts.workers ?? defaultVerifyWorkers()),
      maxAttempts: Math.max(1, opts.maxAttempts ?? 3),
      batchTimeoutMs: opts.batchTimeoutMs ?? 30_000,
      keyCacheBytes: opts.keyCacheBytes ?? DEFAULT_P256_KEY_CACHE_BYTES,
      workerUrl: opts.workerUrl ?? new URL("./verify-worker.mjs", import.meta.url),
      onWorkerExit: opts.onWorkerExit,
    };
    this.#slots = Array.from({ length: this.#opts.workers }, (_, index) => ({
      index,
      worker: null,
      batches: new Map(),
      crashes: 0,
      lastError: null,
    }));
    for (const s of this.#slots) this.#spawn(s);
  }

  /** Whether `signature` (64 bytes r||s) is ES256 by `publicKey` (65 bytes) over `digest` (32 bytes). */
  async verifyP256(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return (await this.check("p256", publicKey, digest, signature)) === 1;
  }

  /**
   * Check a signature: P-256 answers 1 (valid) or 0; secp256k1 answers the on-chain recovery byte
   * v (27 or 28) when valid, 0 when not.
   */
  check(curve: CurveName, publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new VerifyPoolClosedError());
    if (publicKey.length !== 65 || digest.length !== 32 || signature.length !== 64) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      this.#queue.push({
        curve: CURVE_BYTE[curve],
        key: publicKey,
        digest,
        signature,
        attempts: 0,
        resolve,
        reject,
      });
      this.#schedule();
    });
  }

  status(): VerifyPoolStatus {
    let inFlight = 0;
    for (const s of this.#slots) for (const b of s.batches.values()) inFlight += b.jobs.length;
    return {
      size: this.#slots.length,
      live: this.#slots.filter((s) => s.worker).length,
      restarts: this.#restarts,
      queued: this.#queue.length,
      inFlight,
    };
  }

  /** Terminate one worker as if it had died (operators' and tests' lever); its checks are re-queued. */
  async terminateWorker(index: number): Promise<void> {
    await this.#slots[index]?.worker?.terminate();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const err = new VerifyPoolClosedError();
    for (const s of this.#slots) {
      for (const b of s.batches.values()) {
        clearTimeout(b.timer);
        for (const j of b.jobs) j.reject(err);
      }
      s.batches.clear();
    }
    for (const j of this.#queue) j.reject(err);
    this.#queue = [];
    await Promise.all(this.#slots.map((s) => s.worker?.terminate()));
  }

  #spawn(slot: Slot): void {
    // Plain JavaScript, so the worker loads the same under tsx, vitest and a build. The heap holds
    // one batch and the key cache's JavaScript side (the keys themselves live outside the heap).
    const worker = new Worker(this.#opts.workerUrl, {
      workerData: { keyCacheBytes: this.#opts.keyCacheBytes },
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    });
    worker.unref();
    slot.worker = worker;
    worker.on("message", (m: { id: number; results: Uint8Array }) => {
      const batch = slot.batches.get(m.id);
      if (!batch) return;
      slot.batches.delete(m.id);
      clearTimeout(batch.timer);
      slot.crashes = 0;
      batch.jobs.forEach((j, i) => {
        j.resolve(m.results[i] ?? 0);
      });
    });
    worker.on("error", (err) => {
      slot.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    });
    worker.on("exit", (code) => this.#onExit(slot, worker, code));
  }

  #onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    if (this.#closed) return;
    const reason = slot.lastError ?? `exit code ${code}`;
    slot.lastError = null;
    let requeued = 0;
    let failed = 0;
    const again: Job[] = [];
    for (const b of slot.batches.values()) {
      clearTimeout(b.timer);
      for (const j of b.jobs) {
        j.attempts += 1;
        if (j.attempts >= this.#opts.maxAttempts) {
          failed += 1;
          j.reject(new VerifyCheckFailedError(j.attempts, reason));
        } else {
          requeued += 1;
          again.push(j);
        }
      }
    }
    slot.batches.clear();
    this.#queue = [...again, ...this.#queue];
    this.#restarts += 1;
    slot.crashes += 1;
    this.#opts.onWorkerExit?.({ worker: slot.index, reason, requeued, failed });
    // Right away the first time; a worker that keeps dying waits 100 ms, 200 ms... up to 5 s.
    const delay = slot.crashes <= 1 ? 0 : Math.min(5_000, 100 * 2 ** (slot.crashes - 2));
    const t = setTimeout(() => {
      if (this.#closed) return;
      this.#spawn(slot);
      this.#schedule();
    }, delay);
    t.unref();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0 || this.#closed) return;
    const live = this.#slots.filter((s) => s.worker);
    if (live.length === 0) return; // a respawn schedules the next flush
    const jobs = this.#queue;
    this.#queue = [];
    // Checks that were on a dying worker go alone: a check that kills workers fails only itself.
    const suspects = jobs.filter((j) => j.attempts > 0);
    const fresh = suspects.length ? jobs.filter((j) => j.attempts === 0) : jobs;
    for (const j of suspects) this.#send(this.#pick(live), [j]);
    const per = Math.ceil(fresh.length / live.length);
    for (let i = 0; i < fresh.length; i += per) this.#send(this.#pick(live), fresh.slice(i, i + per));
  }

  #pick(live: Slot[]): Slot {
    const s = live[this.#nextSlot % live.length] as Slot;
    this.#nextSlot += 1;
    return s;
  }

  #send(slot: Slot, jobs: Job[]): void {
    const buf = new Uint8Array(jobs.length * RECORD);
    jobs.forEach((j, i) => {
      const o = i * RECORD;
      buf[o] = j.curve;
      buf.set(j.key, o + 1);
      buf.set(j.digest, o + 66);
      buf.set(j.signature, o + 98);
    });
    const id = this.#nextBatch++;
    const worker = slot.worker as Worker;
    const timer = setTimeout(() => {
      slot.lastError = `no answer within ${this.#opts.batchTimeoutMs} ms`;
      void worker.terminate();
    }, this.#opts.batchTimeoutMs);
    timer.unref();
    slot.batches.set(id, { jobs, timer });
    worker.postMessage({ id, buf }, [buf.buffer]);
  }
}
