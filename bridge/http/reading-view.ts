import type { Hex } from "viem";
import { type ReadingTree, readingProof } from "../../protocol/index.js";
import { toReading } from "../checks.js";
import type { ReadingStore, StoredReading } from "../store/types.js";
import { ProofBuildersBusyError } from "./error-handler.js";
import type { TreeBuilder } from "./tree-builder.js";

/** A reading as /readings/:id and /feeds/:feedId/latest serve it (readingSchema in schemas.ts). */
export type ReadingView = (id: string) => Promise<ReadingResponse | null>;

export type ReadingResponse = {
  id: string;
  reading: Pick<StoredReading, "deviceId" | "feedId" | "value" | "timestamp" | "sequence">;
  signature: Hex;
  curve: StoredReading["curve"];
  /** "rejected": left out at the batch cut; "revoked": no longer verifies (bridge/reading-validity.ts). */
  status: "queued" | "committed" | "rejected" | "revoked";
  reason?: string;
  batch?: { root: Hex; txHash: Hex; blockNumber: string };
  proof?: Hex[];
};

/** How many trees of old batches may wait to be rebuilt at once; beyond it, 503 (ProofBuildersBusyError). */
export const MAX_WAITING_TREE_BUILDS = 8;

/**
 * Leaves of the trees kept for proofs, in all (the oldest tree goes first beyond it): 32 trees of
 * 1,024 readings, fewer of larger batches. A tree costs about 0.7 KB a leaf on the heap; kept by
 * count (64 trees), proofs of 4,096-reading batches from the archive ran the bridge out of its
 * 128 MB heap in the soak benchmark.
 */
export const MAX_CACHED_TREE_LEAVES = 32_768;

/**
 * Reads a reading with its batch and Merkle proof. The trees of the last batches asked for are
 * kept (MAX_CACHED_TREE_LEAVES leaves in all); others are rebuilt on a worker thread, one after the other (tree-builder.ts: ingest keeps the
 * event loop), and a client asking for more than MAX_WAITING_TREE_BUILDS at once is told to come back later.
 */
export function readingView(store: ReadingStore, builder: Pick<TreeBuilder, "build">): ReadingView {
  const trees = new Map<Hex, { tree: ReadingTree; leaves: number }>();
  let cachedLeaves = 0;
  const building = new Map<Hex, Promise<ReadingTree>>();

  function treeOf(root: Hex, ids: string[]): Promise<ReadingTree> {
    const cached = trees.get(root);
    if (cached) return Promise.resolve(cached.tree);
    const pending = building.get(root);
    if (pending) return pending;
    if (building.size >= MAX_WAITING_TREE_BUILDS) return Promise.reject(new ProofBuildersBusyError());
    const build = (async () => {
      const readings = (await store.getReadings(ids)) as StoredReading[];
      const tree = await builder.build(readings.map(toReading));
      trees.set(root, { tree, leaves: ids.length });
      cachedLeaves += ids.length;
      for (const [old, t] of trees) {
        if (cachedLeaves <= MAX_CACHED_TREE_LEAVES || trees.size === 1) break;
        trees.delete(old);
        cachedLeaves -= t.leaves;
      }
      return tree;
    })().finally(() => building.delete(root));
    building.set(root, build);
    return build;
  }

  return async (id) => {
    const [stored] = await store.getReadings([id]);
    if (!stored) return null;
    const reading = {
      deviceId: stored.deviceId,
      feedId: stored.feedId,
      value: stored.value,
      timestamp: stored.timestamp,
      sequence: stored.sequence,
    };
    const base = { id, reading, signature: stored.signature, curve: stored.curve };
    const root = await store.rootOf(id);
    if (!root) return { ...base, status: "queued" };
    const batch = await store.getBatch(root);
    if (!batch) throw new Error(`batch ${root} of reading ${id} is missing`);
    const tree = await treeOf(root, batch.ids);
    return {
      ...base,
      status: "committed",
      batch: { root, txHash: batch.txHash, blockNumber: batch.blockNumber },
      proof: readingProof(tree, batch.ids.indexOf(id)),
    };
  };
}
