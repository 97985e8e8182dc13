import type { Hex } from "viem";
import { buildReadingTree, type ReadingTree, readingProof } from "../../protocol/index.js";
import { toReading } from "../ingest.js";
import type { ReadingStore, StoredReading } from "../store/types.js";

/** A reading as /readings/:id and /feeds/:feedId/latest serve it (readingSchema in schemas.ts). */
export type ReadingView = (id: string) => Promise<ReadingResponse | null>;

export type ReadingResponse = {
  id: string;
  reading: Pick<StoredReading, "deviceId" | "feedId" | "value" | "timestamp" | "sequence">;
  signature: Hex;
  curve: StoredReading["curve"];
  status: "queued" | "committed";
  batch?: { root: Hex; txHash: Hex; blockNumber: string };
  proof?: Hex[];
};

/** Reads a reading with its batch and Merkle proof; the trees of the last 64 batches are kept. */
export function readingView(store: ReadingStore): ReadingView {
  const trees = new Map<Hex, ReadingTree>();

  async function treeOf(root: Hex, ids: string[]): Promise<ReadingTree> {
    let tree = trees.get(root);
    if (!tree) {
      const readings = (await store.getReadings(ids)) as StoredReading[];
      tree = buildReadingTree(readings.map(toReading));
      if (trees.size >= 64) trees.delete(trees.keys().next().value as Hex);
      trees.set(root, tree);
    }
    return tree;
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
