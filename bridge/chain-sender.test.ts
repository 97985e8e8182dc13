import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorFeedsAbi, sensorOracleAbi } from "../chain/abi.js";
import { createFleetCa } from "../pki/fleet-ca.js";
import { signedStoredReading } from "../testkit/signed-reading.js";
import { deployStack, enrollDevice, type Stack } from "../testkit/stack.js";
import { commitNextBatch } from "./batcher.js";
import { Metrics } from "./metrics.js";
import { FeedPusher } from "./push/pusher.js";
import { MemoryStore } from "./store/memory-store.js";

describe("one transaction sender per submitter key", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await deployStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("runs batch commits and feed pushes at once from one key for many rounds without a nonce error", async () => {
    const ca = await createFleetCa();
    const d = await enrollDevice(stack, ca, "secp256k1");
    const configured = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 60, window: 300 },
        [d.deviceId],
        "nonce test",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash: configured });
    const domain = { chainId: stack.chainId, registry: stack.contracts.oracle };
    const signed = (seq: number) =>
      signedStoredReading(d, domain, {
        feedId: stack.feedId,
        value: BigInt(seq * 1000),
        timestamp: BigInt(Math.floor(Date.now() / 1000) - 600 + seq),
        sequence: BigInt(seq),
      });

    const store = new MemoryStore();
    const metrics = new Metrics();
    const errors: unknown[] = [];
    const chain = {
      store,
      publicClient: stack.publicClient,
      walletClient: stack.submitter,
      metrics,
      owner: "one-key",
    };
    const pusher = new FeedPusher({
      ...chain,
      address: stack.contracts.feeds,
      feeds: [{ feedId: stack.feedId, deviationBps: 100, heartbeatSec: 60 }],
      onError: (err) => errors.push(err),
    });
    const rounds = 40;
    const roots: Hex[] = [];
    for (let i = 1; i <= rounds; i++) {
      const r = signed(i);
      await store.accept(r, d.name);
      pusher.observe(r);
      const [committed] = await Promise.all([
        commitNextBatch({ ...chain, batches: stack.contracts.oracle, receiptPollMs: 10 }).catch(
          (err: unknown) => {
            errors.push(err);
            return null;
          },
        ),
        pusher.tick(),
      ]);
      if (committed) roots.push(committed.root);
    }

    const nonceErrors = errors.filter((e) => /nonce/i.test(String(e)));
    expect(nonceErrors).toEqual([]);
    expect(errors).toEqual([]);
    expect(roots).toHaveLength(rounds);
    expect(metrics.feedPushes).toBe(rounds);
    for (const root of roots) {
      const batch = await stack.publicClient.readContract({
        address: stack.contracts.oracle,
        abi: sensorOracleAbi,
        functionName: "getBatch",
        args: [root],
      });
      expect(batch.committedAt).toBeGreaterThan(0n);
    }
    const [, answer] = await stack.publicClient.readContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "latestRoundData",
      args: [stack.feedId],
    });
    expect(answer).toBe(BigInt(rounds * 1000));
  });
});
