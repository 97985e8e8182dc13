import { Worker } from "node:worker_threads";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { LEAF_TYPES, leafValues, type Reading, type ReadingTree } from "../../protocol/index.js";

type LeafValues = ReturnType<typeof leafValues>;
/** The parts of StandardMerkleTree.dump() the worker sends back: the hashes and the values' places. */
type TreeDump = { tree: `0x${string}`[]; values: { value: LeafValues; treeIndex: number }[] };

type Pending = { resolve: (tree: ReadingTree) => void; reject: (err: unknown) => void };

/**
 * Rebuilds the Merkle trees of old batches (for /readings/:id proofs) on a worker thread: a batch
 * of 1,024 readings is about 4,000 Keccak hashes, which on the event loop would delay ingest. The
 * tree comes back as OpenZeppelin's dump and is loaded here without hashing again. One worker,
 * started on first use; reading-view.ts bounds how many builds may wait.
 */
export class TreeBuilder {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 0;

  build(readings: readonly Reading[]): Promise<ReadingTree> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, values: readings.map(leafValues), types: [...LEAF_TYPES] });
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll(new Error("tree builder closed"));
    await worker?.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./tree-worker.mjs", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    });
    worker.unref();
    worker.on("message", (m: { id: number; dump?: TreeDump; error?: string }) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (!p) return;
      if (m.dump) {
        const { tree, values } = m.dump;
        p.resolve(
          StandardMerkleTree.load<LeafValues>({
            format: "standard-v1",
            tree,
            values,
            leafEncoding: [...LEAF_TYPES],
          }),
        );
      } else p.reject(new Error(`tree build failed: ${m.error}`));
    });
    // A worker that dies fails what it had; the next build starts a new one.
    const fail = (err: unknown) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`tree worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #failAll(err: unknown): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
