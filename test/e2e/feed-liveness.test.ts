import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { sensorFeedsAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

describe("feed liveness: no reading can hold a pushed feed back (Mosquitto mTLS, Redis, Hardhat)", () => {
  let ca: FleetCa;
  let stack: Stack;
  let redis: Service;
  let broker: Service;
  let bridge: Bridge;
  let store: RedisStore;
  const agents: Record<"a" | "b" | "foreign", DeviceAgent> = {} as never;
  const devices: Record<"a" | "b" | "foreign", IssuedDevice> = {} as never;

  const configure = async (members: IssuedDevice[]) => {
    const hash = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 3600, window: 300 },
        members.map((d) => d.deviceId),
        "cold room 7",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
  };

  beforeAll(async () => {
    ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    devices.a = await enrollDevice(stack, ca, "secp256k1");
    devices.b = await enrollDevice(stack, ca, "p256");
    devices.foreign = await enrollDevice(stack, ca, "secp256k1"); // enrolled in the fleet, not on the feed
    await configure([devices.a, devices.b]);
    const certificates = new FleetCertificates(ca.certPem);
    for (const d of Object.values(devices)) certificates.add(d.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "liveness",
      certificates,
      push: {
        address: stack.contracts.feeds,
        feeds: [{ feedId: stack.feedId, deviationBps: 100, heartbeatSec: 3600 }],
        intervalMs: 3_600_000, // the test pushes
      },
    }));
    for (const k of ["a", "b", "foreign"] as const) {
      agents[k] = await startDeviceAgent(devices[k], siteOn(ca, broker, stack));
    }
  });

  afterAll(async () => {
    for (const a of Object.values(agents)) await a?.stop().catch(() => {});
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
  const publish = async (k: "a" | "b" | "foreign", value: bigint, ago: number) => {
    const seq = await agents[k].publish(stack.feedId, value, BigInt(Math.floor(Date.now() / 1000) - ago));
    expect(await agents[k].waitForAck(seq)).toMatchObject({ status: "queued" });
  };
  const dropped = (reason: string) => bridge.metrics.pushDropped[reason] ?? 0;

  it("pushes the feed's own devices while a foreign device publishes for it, and counts the foreign readings as dropped", async () => {
    await publish("foreign", 99_999n, 60);
    await publish("a", 500n, 59);
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(500n);
    expect(dropped("device_not_allowed")).toBe(1);

    await publish("b", 700n, 58);
    await publish("foreign", -1n, 57);
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(600n); // median of 500 and 700: the foreign reading never counted
    expect(dropped("device_not_allowed")).toBe(2);

    // Nothing new: nothing pushed, and the dropped readings are not tried again.
    expect(await bridge.pushFeeds()).toBe(0);
    expect(dropped("device_not_allowed")).toBe(2);
    expect(bridge.metrics.pushFailures).toBe(0);
    const metrics = await bridge.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toContain(
      'sensor_oracle_push_readings_dropped_total{reason="device_not_allowed"} 2',
    );
  });

  it("drops a reading the contract skips and lands the others of the same update", async () => {
    // The feed loses device b on-chain; the pusher still lists it (its copy of the device list is
    // a minute old at most), so b's next reading is sent and the contract skips it.
    await configure([devices.a]);
    await publish("b", 100n, 40);
    await publish("a", 5_000n, 39);
    const before = dropped("device_not_allowed");
    expect(await bridge.pushFeeds()).toBe(1);
    expect(await answer()).toBe(5_000n);
    expect(dropped("device_not_allowed")).toBe(before + 1);
    expect(bridge.metrics.pushFailures).toBe(0);

    await publish("a", 5_001n, 38); // under the deviation: not due, and b's reading is not sent again
    expect(await bridge.pushFeeds()).toBe(0);
    expect(dropped("device_not_allowed")).toBe(before + 1);
  });
});
