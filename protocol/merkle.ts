import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Hex } from "viem";
import { LEAF_TYPES, leafValues, type Reading } from "./reading.js";

export type ReadingTree = StandardMerkleTree<ReturnType<typeof leafValues>>;

/**
 * The Merkle tree of a batch in OpenZeppelin's standard format (sorted pairs, double-hashed
 * leaves), which OpenZeppelin's MerkleProof verifies on-chain.
 */
export function buildReadingTree(readings: readonly Reading[]): ReadingTree {
  return StandardMerkleTree.of(readings.map(leafValues), [...LEAF_TYPES]);
}

export function readingProof(tree: ReadingTree, index: number): Hex[] {
  return tree.getProof(index) as Hex[];
}
