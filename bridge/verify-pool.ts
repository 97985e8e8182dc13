import { Worker } from "node:worker_threads";

/**
 * P-256 signature checks on a worker thread. On the bridge's hot path the check is about half the
 * CPU of a reading; the other half (MQTT, TLS, JSON, Redis) stays on the main thread, so the two
 * halves run on two cores. Jobs of one event-loop turn go as one transferred buffer of fixed-size
 * records (65-byte key, 32-byte digest, 64-byte signature); the answers come back as one byte each.
 * The caller has already refused high-S signatures and malformed input: this only verifies.
 */

export const RECORD = 65 + 32 + 64;

type Pending = { resolve: (ok: boolean) => void; reject: (err: unknown) => void };

export class P256VerifyPool {
  readonly #worker: Worker;
  #queue: { key: Uint8Array; digest: Uint8Array; signature: Uint8Array; p: Pending }[] = [];
  readonly #inFlight = new Map<number, Pending[]>();
  #nextBatch = 0;
  #scheduled = false;
  #closed = false;

  constructor() {
    // Plain JavaScript, so the worker loads the same under tsx, vitest and a build.
    // Small heap limits: the worker holds key objects and one batch at a time, and each megabyte
    // of its heap counts in the bridge's resident memory (docs/BENCHMARKS.md).
    this.#worker = new Worker(new URL("./verify-worker.mjs", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    this.#worker.unref();
    this.#worker.on("message", (m: { id: number; results: Uint8Array }) => {
      const batch = this.#inFlight.get(m.id);
      this.#inFlight.delete(m.id);
      batch?.forEach((p, i) => {
        p.resolve(m.results[i] === 1);
      });
    });
    this.#worker.on("error", (err) => this.#failAll(err));
    this.#worker.on("exit", (code) => this.#failAll(new Error(`verify worker exited with code ${code}`)));
  }

  /** Whether `signature` (64 bytes r||s) is ES256 by `publicKey` (65 bytes) over `digest` (32 bytes). */
  verify(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error("verify pool closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ key: publicKey, digest, signature, p: { resolve, reject } });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#failAll(new Error("verify pool closed"));
    await this.#worker.terminate();
  }

  #flush(): void {
    this.#scheduled = false;
    const jobs = this.#queue;
    if (jobs.length === 0) return;
    this.#queue = [];
    const buf = new Uint8Array(jobs.length * RECORD);
    jobs.forEach((j, i) => {
      const o = i * RECORD;
      buf.set(j.key, o);
      buf.set(j.digest, o + 65);
      buf.set(j.signature, o + 97);
    });
    const id = this.#nextBatch++;
    this.#inFlight.set(
      id,
      jobs.map((j) => j.p),
    );
    this.#worker.postMessage({ id, buf }, [buf.buffer]);
  }

  #failAll(err: unknown): void {
    for (const batch of this.#inFlight.values()) for (const p of batch) p.reject(err);
    this.#inFlight.clear();
    for (const j of this.#queue) j.p.reject(err);
    this.#queue = [];
  }
}
