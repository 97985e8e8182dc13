import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorFeedsAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { createFleetCa } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";
import type { Bridge } from "../bridge.js";
import { FleetCertificates } from "../certificates.js";
import type { RedisStore } from "../store/redis-store.js";

describe("the bridge pushes feeds on deviation and heartbeat", () => {
  let stack: Stack;
  let redis: Service;
  let broker: Service;
  let bridge: Bridge;
  let store: RedisStore;
  let agent: DeviceAgent;

  beforeAll(async () => {
    const ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    const d = await enrollDevice(stack, ca, "secp256k1");
    const hash = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 2, window: 300 },
        [d.deviceId],
        "cold room 7",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
    const certificates = new FleetCertificates(ca.certPem);
    certificates.add(d.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "push",
      certificates,
      push: {
        address: stack.contracts.feeds,
        feeds: [{ feedId: stack.feedId, deviationBps: 100, heartbeatSec: 2 }],
        intervalMs: 3_600_000,
      },
    }));
    agent = await startDeviceAgent(d, siteOn(ca, broker, stack));
  });

  afterAll(async () => {
    await agent?.stop();
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  const answer = async () =>
    (
      await stack.publicClient.readContract({
        address: stack.contracts.feeds,
        abi: sensorFeedsAbi,
        functionName: "latestRoundData",
        args: [stack.feedId],
      })
    )[1];
  const publish = async (value: bigint, ago: number) => {
    const seq = await agent.publish(stack.feedId, value, BigInt(Math.floor(Date.now() / 1000) - ago));
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "queued" });
  };

  it("pushes the first value, skips a small move, pushes a large one, and pushes on the heartbeat", async () => {
    await publish(500n, 30);
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(500n);

    await publish(502n, 29); // 0.4%, under the 1% threshold
    expect(await bridge.pushFeeds()).toBe(0);
    expect(await answer()).toBe(500n);

    await publish(600n, 28); // 20%
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(600n);

    await new Promise((r) => setTimeout(r, 2_100)); // the heartbeat is due
    await publish(601n, 1);
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(601n);
    expect(bridge.metrics.feedPushes).toBe(3);
  });
});
