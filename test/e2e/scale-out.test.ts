import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import type { IssuedCertificate } from "../../pki/fleet-ca.js";
import { createFleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

const DEVICES = 4;
const PER_DEVICE = 50;

describe("two bridges sharing one Mosquitto (MQTT 5 shared subscription) and one Redis", () => {
  let redis: Service;
  let broker: Service;
  let stack: Stack;
  const bridges: Bridge[] = [];
  const stores: RedisStore[] = [];
  const agents: DeviceAgent[] = [];
  let devices: IssuedDevice[] = [];

  beforeAll(async () => {
    const ca = await createFleetCa();
    const infra = await startTestInfra(ca, { bridges: 2 });
    ({ redis, broker, stack } = infra);
    devices = [];
    for (let i = 0; i < DEVICES; i++)
      devices.push(await enrollDevice(stack, ca, i % 2 ? "secp256k1" : "p256"));
    for (const [i, name] of ["bridge-a", "bridge-b"].entries()) {
      const bridgeCert = infra.bridgeCerts[i] as IssuedCertificate; // each bridge its own CN (client id)
      const certificates = new FleetCertificates(ca.certPem);
      for (const d of devices) certificates.add(d.certPem);
      const { bridge, store } = await startTestBridge(
        ca,
        { ...infra, bridgeCert },
        {
          prefix: "shared",
          id: name,
          certificates,
          batchIntervalMs: 300,
          maxBatchSize: 64,
          rateLimit: { perSecond: 1000, burst: 1000 },
        },
      );
      stores.push(store);
      bridges.push(bridge);
    }
    for (const d of devices) agents.push(await startDeviceAgent(d, siteOn(ca, broker, stack)));
  });

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => {});
    for (const b of bridges) await b.stop();
    for (const s of stores) await s.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  it("splits the readings between the bridges, commits each exactly once, loses none", async () => {
    const sent = await Promise.all(
      agents.map(async (a) => {
        const seqs: bigint[] = [];
        for (let i = 0; i < PER_DEVICE; i++) seqs.push(await a.publish(stack.feedId, BigInt(500 + i)));
        return seqs;
      }),
    );
    for (const [i, seqs] of sent.entries()) {
      for (const seq of seqs) {
        expect(await (agents[i] as DeviceAgent).waitForAck(seq)).toEqual({ sequence: seq, status: "queued" });
      }
    }
    const accepted = bridges.map((b) => b.metrics.accepted);
    expect(accepted[0]).toBeGreaterThan(0);
    expect(accepted[1]).toBeGreaterThan(0);
    expect((accepted[0] as number) + (accepted[1] as number)).toBe(DEVICES * PER_DEVICE);

    // Wait until the queue is drained and nothing is in flight.
    const ids = devices.flatMap((d, i) => (sent[i] as bigint[]).map((seq) => readingId(d.name, seq)));
    const store = stores[0] as RedisStore;
    await expect
      .poll(
        async () => (await Promise.all(ids.map((id) => store.rootOf(id)))).filter((r) => r === null).length,
        {
          timeout: 30_000,
          interval: 200,
        },
      )
      .toBe(0);

    // Accounting: every reading sent is in exactly one committed batch, and every batch is on-chain.
    const roots = new Set((await Promise.all(ids.map((id) => store.rootOf(id)))) as Hex[]);
    const seen = new Map<string, number>();
    for (const root of roots) {
      const batch = await store.getBatch(root);
      for (const id of batch?.ids ?? []) seen.set(id, (seen.get(id) ?? 0) + 1);
      const onChain = await stack.publicClient.readContract({
        address: stack.contracts.oracle,
        abi: sensorOracleAbi,
        functionName: "getBatch",
        args: [root],
      });
      expect(onChain.committedAt).toBeGreaterThan(0n);
      expect(onChain.count).toBe(batch?.ids.length);
    }
    expect(seen.size).toBe(DEVICES * PER_DEVICE);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Only the lease holder committed.
    const committers = bridges.filter((b) => b.metrics.batchesCommitted > 0);
    expect(committers).toHaveLength(1);
  });
});
