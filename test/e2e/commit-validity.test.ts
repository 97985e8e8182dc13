import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { toReading } from "../../bridge/checks.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { sensorFeedsAbi, sensorOracleAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { revokeDevice, rotateDevice } from "../../fleet/registry-admin.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

type Served = {
  id: string;
  status: "queued" | "committed" | "rejected" | "revoked";
  reason?: string;
  reading: { deviceId: Hex; feedId: Hex; value: string; timestamp: string; sequence: string };
  signature: Hex;
  batch?: { root: Hex };
  proof?: Hex[];
};

type Name = "a" | "b" | "c" | "d" | "e" | "f";

describe("every committed reading verifies at commit time (Mosquitto mTLS, Redis, Hardhat)", () => {
  let ca: FleetCa;
  let stack: Stack;
  let redis: Service;
  let broker: Service;
  let bridge: Bridge;
  let store: RedisStore;
  const agents: Record<Name, DeviceAgent> = {} as never;
  const devices: Record<Name, IssuedDevice> = {} as never;
  const now = () => Math.floor(Date.now() / 1000);
  const writer = () => ({
    wallet: stack.operator,
    publicClient: stack.publicClient,
    registry: stack.contracts.oracle,
  });

  beforeAll(async () => {
    ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    devices.a = await enrollDevice(stack, ca, "p256");
    devices.b = await enrollDevice(stack, ca, "secp256k1");
    devices.c = await enrollDevice(stack, ca, "secp256k1");
    devices.d = await enrollDevice(stack, ca, "secp256k1");
    devices.e = await enrollDevice(stack, ca, "p256");
    devices.f = await enrollDevice(stack, ca, "p256");
    const hash = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 3600, window: 3600 },
        Object.values(devices).map((d) => d.deviceId),
        "cold room 7",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
    const certificates = new FleetCertificates(ca.certPem);
    for (const d of Object.values(devices)) certificates.add(d.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "validity",
      certificates,
      push: {
        address: stack.contracts.feeds,
        feeds: [{ feedId: stack.feedId, deviationBps: 1, heartbeatSec: 3600 }],
        intervalMs: 3_600_000, // the test pushes
      },
    }));
    for (const k of Object.keys(devices) as Name[]) {
      agents[k] = await startDeviceAgent(devices[k], siteOn(ca, broker, stack));
    }
  });

  afterAll(async () => {
    for (const a of Object.values(agents)) await a?.stop().catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  /** Publish a reading dated `at` and wait until the bridge has queued it; its id. */
  const publish = async (k: Name, value: bigint, at: number) => {
    const seq = await agents[k].publish(stack.feedId, value, BigInt(at));
    expect(await agents[k].waitForAck(seq)).toMatchObject({ status: "queued" });
    return `${devices[k].name}:${seq}`;
  };
  const get = async (id: string) => {
    const res = await bridge.app.inject({ method: "GET", url: `/readings/${id}` });
    expect(res.statusCode).toBe(200);
    return res.json() as Served;
  };
  const latest = () => bridge.app.inject({ method: "GET", url: `/feeds/${stack.feedId}/latest` });
  const verifyOnChain = (r: Served) =>
    stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "verifyReading",
      args: [toReading(r.reading), r.signature, r.proof as Hex[]],
    });
  const answer = () =>
    stack.publicClient.readContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "latestRoundData",
      args: [stack.feedId],
    });

  it("leaves out at the cut the queued readings of a device revoked since before them, shows them rejected, and commits only readings that verify", async () => {
    const t = now();
    const a1 = await publish("a", 101n, t - 100);
    const b1 = await publish("b", 201n, t - 95);
    const a2 = await publish("a", 102n, t - 80);
    const b2 = await publish("b", 202n, t - 75);
    const a3 = await publish("a", 103n, t - 60);
    // Device b gets a new key dated back before b2 (signed with the old key), device a is
    // revoked since before a2: both while the readings wait in the queue.
    const newKey = await ca.issueDevice({ curve: "secp256k1" });
    await rotateDevice(
      writer(),
      {
        deviceId: devices.b.deviceId,
        curve: "secp256k1",
        readingPublicKey: newKey.readingPublicKey,
        certPem: newKey.certPem,
      },
      t - 78,
    );
    await revokeDevice(writer(), devices.a.deviceId, t - 85);

    await bridge.flush();

    expect(bridge.metrics.leftOut).toEqual({ revoked: 2, rotated_key: 1 });
    expect(bridge.metrics.readingsCommitted).toBe(2);
    for (const [id, reason] of [
      [a2, "revoked"],
      [a3, "revoked"],
      [b2, "rotated_key"],
    ] as const) {
      const r = await get(id);
      expect(r).toMatchObject({ status: "rejected", reason });
      expect(r.proof).toBeUndefined();
    }
    const committed = [await get(a1), await get(b1)];
    for (const r of committed) {
      expect(r.status).toBe("committed");
      expect(await verifyOnChain(r)).toBe(r.batch?.root); // reverts for a reading that does not verify
    }
    // The feed's latest committed reading is the newest one that was committed: b1, not a3.
    const served = await latest();
    expect(served.statusCode).toBe(200);
    expect((served.json() as Served).id).toBe(b1);
    const metrics = await bridge.app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toContain('sensor_oracle_readings_left_out_total{reason="revoked"} 2');

    // Neither device's newest reading is pushed (the pusher holds each device's newest only).
    expect(await bridge.pushFeeds()).toBe(0);
    expect(bridge.metrics.pushDropped).toEqual({ revoked: 1, rotated_key: 1 });
    await expect(answer()).rejects.toThrow(/SensorFeedsNoValue/);
  });

  it("shows a committed reading revoked afterwards as revoked and never serves it as the feed's latest", async () => {
    const t = now();
    const c1 = await publish("c", 301n, t - 50);
    await bridge.flush();
    const before = await get(c1);
    expect(before.status).toBe("committed");
    expect(await verifyOnChain(before)).toBe(before.batch?.root);
    expect(((await latest()).json() as Served).id).toBe(c1);

    await revokeDevice(writer(), devices.c.deviceId, t - 55); // dated back before c1
    await expect.poll(async () => (await get(c1)).status, { timeout: 10_000, interval: 200 }).toBe("revoked");
    expect((await get(c1)).reason).toBe("revoked");
    await expect(verifyOnChain(before)).rejects.toThrow(/ReadingBatchesInvalidSignature/);
    expect((await latest()).statusCode).toBe(404);

    const dropped = bridge.metrics.pushDropped.revoked ?? 0;
    expect(await bridge.pushFeeds()).toBe(0);
    expect(bridge.metrics.pushDropped.revoked).toBe(dropped + 1);
    await expect(answer()).rejects.toThrow(/SensorFeedsNoValue/);
  });

  it("leaves out a whole cut whose readings all no longer verify, and commits the next one", async () => {
    const t = now();
    const d1 = await publish("d", 401n, t - 30);
    await revokeDevice(writer(), devices.d.deviceId, t - 31);
    const committedBefore = bridge.metrics.batchesCommitted;
    await bridge.flush();
    expect(bridge.metrics.batchesCommitted).toBe(committedBefore);
    expect(await get(d1)).toMatchObject({ status: "rejected", reason: "revoked" });
    expect(await store.queueDepth()).toBe(0);
    // The batcher is not stuck on the cut: the next reading of a good device is committed.
    const e1 = await publish("e", 501n, t - 20);
    await bridge.flush();
    const r = await get(e1);
    expect(r.status).toBe("committed");
    expect(await verifyOnChain(r)).toBe(r.batch?.root);
    expect(((await latest()).json() as Served).id).toBe(e1);
  });

  it("takes a device's readings for at most one event poll after its revocation is mined, and commits none signed from its since", async () => {
    const since = now() - 1;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const sent: { id: string; at: number; status: string; reason?: string }[] = [];
    let minedAt = Number.POSITIVE_INFINITY;
    const publishing = (async () => {
      for (let i = 0; i < 60; i++) {
        const seq = await agents.f.publish(stack.feedId, 600n + BigInt(i), BigInt(now()));
        const ack = await agents.f.waitForAck(seq);
        sent.push({ id: `${devices.f.name}:${seq}`, at: Date.now(), ...ack });
        await sleep(40);
      }
    })();
    await sleep(800);
    await revokeDevice(writer(), devices.f.deviceId, since);
    minedAt = Date.now(); // the receipt is back: the revocation is in the chain's head
    await publishing;

    const queued = sent.filter((s) => s.status === "queued");
    const takenAfter = queued.filter((s) => s.at > minedAt);
    const refused = sent.filter((s) => s.status === "rejected");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((s) => s.reason === "revoked")).toBe(true);
    // Taken after the block: within one event poll (1 s) and its two RPC round trips.
    const lastTaken = Math.max(minedAt, ...takenAfter.map((s) => s.at));
    expect(lastTaken - minedAt).toBeLessThan(2_500); // margin for a loaded machine

    await bridge.flush();
    for (const s of queued) expect(await get(s.id)).toMatchObject({ status: "rejected", reason: "revoked" });
    expect(bridge.metrics.leftOut.revoked).toBeGreaterThanOrEqual(2 + 1 + queued.length); // with the tests above
    console.info(
      `revocation bound: ${queued.length} readings taken, ${takenAfter.length} of them after the revocation's receipt (last ${lastTaken - minedAt} ms after), all left out at the cut`,
    );
  });
});
