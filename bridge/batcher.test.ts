import { type Hex, testActions } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorOracleAbi } from "../chain/abi.js";
import { deployStack, type Stack } from "../testkit/stack.js";
import { commitNextBatch } from "./batcher.js";
import { Metrics } from "./metrics.js";
import { MemoryStore } from "./store/memory-store.js";
import { readingId } from "./store/types.js";

describe("submitter: a commit stuck in the mempool is replaced with higher fees", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await deployStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("bumps the fees of a stuck commit (same nonce) and takes the replacement that is mined", async () => {
    const store = new MemoryStore();
    const name = "ab".repeat(32);
    await store.accept(
      {
        id: readingId(name, 1n),
        deviceId: `0x${name}`,
        feedId: stack.feedId,
        value: "1",
        timestamp: "1767225600",
        sequence: "1",
        signature: `0x${"00".repeat(64)}`,
        curve: "p256",
        receivedAt: 0,
      },
      name,
    );
    const metrics = new Metrics();
    const chain = stack.publicClient.extend(testActions({ mode: "hardhat" }));
    await chain.setAutomine(false);
    try {
      const committing = commitNextBatch({
        store,
        publicClient: stack.publicClient,
        walletClient: stack.submitter,
        batches: stack.contracts.oracle,
        metrics,
        stuckAfterMs: 300,
        receiptPollMs: 50,
      });
      await expect.poll(() => metrics.feeBumps, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(1);
      const pending = await chain.getBlock({ blockTag: "pending", includeTransactions: true });
      expect(pending.transactions).toHaveLength(1); // the replacement took the place of the first
      await chain.mine({ blocks: 1 });
      const committed = await committing;
      expect(committed).not.toBeNull();
      const tx = await stack.publicClient.getTransaction({ hash: committed?.txHash as Hex });
      const fees = await stack.publicClient.estimateFeesPerGas();
      expect(tx.maxFeePerGas).toBeGreaterThan(fees.maxFeePerGas); // a bumped one was mined
      const events = await stack.publicClient.getContractEvents({
        address: stack.contracts.oracle,
        abi: sensorOracleAbi,
        eventName: "BatchCommitted",
        args: { root: committed?.root as Hex },
        fromBlock: 0n,
      });
      expect(events).toHaveLength(1);
    } finally {
      await chain.setAutomine(true);
    }
  });
});
