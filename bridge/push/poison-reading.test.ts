import { createPublicClient, createWalletClient, custom, type EIP1193RequestFn } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorFeedsAbi } from "../../chain/abi.js";
import { createFleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { signedStoredReading } from "../../testkit/signed-reading.js";
import { deployStack, enrollDevice, type Stack } from "../../testkit/stack.js";
import { Metrics } from "../metrics.js";
import { MemoryStore } from "../store/memory-store.js";
import { FeedPusher } from "./pusher.js";

/**
 * An update that reverts as a whole (the node refuses it: out of gas, a node's own limit...) must
 * not leave the reading that causes it to be sent again every second. The fault is injected at the
 * RPC: every gas estimate or send of an update holding device b's reading answers "execution
 * reverted".
 */
describe("the pusher with a reading whose update reverts whole", () => {
  let stack: Stack;
  let a: IssuedDevice;
  let b: IssuedDevice;
  beforeAll(async () => {
    stack = await deployStack();
    const ca = await createFleetCa();
    a = await enrollDevice(stack, ca, "secp256k1");
    b = await enrollDevice(stack, ca, "p256");
    const hash = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 60, window: 600 },
        [a.deviceId, b.deviceId],
        "",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("splits the update, lands the other reading, and drops the poisoned one after 3 failures", async () => {
    let poisonedCalls = 0;
    const poison = b.deviceId.slice(2).toLowerCase();
    const request: EIP1193RequestFn = async (args) => {
      const sending = ["eth_estimateGas", "eth_sendTransaction", "eth_sendRawTransaction"].includes(
        args.method,
      );
      if (sending && JSON.stringify(args.params).toLowerCase().includes(poison)) {
        poisonedCalls += 1;
        throw Object.assign(new Error("execution reverted: injected fault"), { code: 3 });
      }
      return stack.publicClient.request(args as never);
    };
    const chain = stack.publicClient.chain;
    const publicClient = createPublicClient({ chain, transport: custom({ request }, { retryCount: 0 }) });
    const walletClient = createWalletClient({
      chain,
      account: stack.submitter.account,
      transport: custom({ request }, { retryCount: 0 }),
    });
    const metrics = new Metrics();
    const errors: unknown[] = [];
    const pusher = new FeedPusher({
      feeds: [{ feedId: stack.feedId, deviationBps: 100, heartbeatSec: 1 }],
      address: stack.contracts.feeds,
      store: new MemoryStore(),
      publicClient,
      walletClient,
      metrics,
      owner: "poison-test",
      onError: (err) => errors.push(err),
    });
    const domain = { chainId: stack.chainId, registry: stack.contracts.oracle };
    const t = BigInt(Math.floor(Date.now() / 1000) - 300);
    const reading = (d: IssuedDevice, value: bigint, dt: bigint, sequence: bigint) =>
      signedStoredReading(d, domain, { feedId: stack.feedId, value, timestamp: t + dt, sequence });
    const answer = async () =>
      (
        await stack.publicClient.readContract({
          address: stack.contracts.feeds,
          abi: sensorFeedsAbi,
          functionName: "latestRoundData",
          args: [stack.feedId],
        })
      )[1];

    pusher.observe(reading(a, 500n, 0n, 1n));
    pusher.observe(reading(b, 9_000n, 1n, 1n));
    // Both together revert; alone, a's lands and b's fails for the first time.
    expect(await pusher.tick()).toBe(1);
    expect(await answer()).toBe(500n);
    expect(poisonedCalls).toBe(2);

    // Its heartbeat is due every second: b's reading is tried alone twice more, then dropped.
    let now = Date.now();
    for (let i = 0; i < 2; i++) {
      now += 2_000;
      expect(await pusher.tick(now)).toBe(0);
    }
    expect(poisonedCalls).toBe(4);
    expect(metrics.pushDropped).toEqual({ call_reverted: 1 });
    expect(metrics.pushFailures).toBe(4); // the update of both, then b's alone three times
    expect(errors).toHaveLength(2);
    for (let i = 0; i < 5; i++) {
      now += 2_000;
      await pusher.tick(now);
    }
    expect(poisonedCalls).toBe(4); // never sent again

    pusher.observe(reading(a, 700n, 10n, 2n));
    expect(await pusher.tick(now + 2_000)).toBe(1);
    expect(await answer()).toBe(700n);
  });
});
