// Builds Merkle trees of old batches off the bridge's event loop (bridge/http/tree-builder.ts):
// receives { id, values, types } (a batch's leaf values, OpenZeppelin's standard tree), answers
// { id, dump } (StandardMerkleTree.dump(), which the main thread loads without hashing again).
import { parentPort } from "node:worker_threads";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

parentPort?.on("message", ({ id, values, types }) => {
  try {
    parentPort?.postMessage({ id, dump: StandardMerkleTree.of(values, types).dump() });
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
