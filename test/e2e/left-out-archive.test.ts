import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchivedStore } from "../../bridge/archive/archived-store.js";
import { SqliteArchive } from "../../bridge/archive/sqlite-archive.js";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { toReading } from "../../bridge/checks.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import type { StoredReading } from "../../bridge/store/types.js";
import { sensorFeedsAbi, sensorOracleAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { revokeDevice } from "../../fleet/registry-admin.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import {
  encodeReadingMessage,
  normalizeLowS,
  readingDigest,
  readingsTopic,
  signDigest,
} from "../../protocol/index.js";
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

type Name = "a" | "b" | "c";

/*
 * Readings left out at the batch cut (their device revoked since before them while they were
 * queued) go the way of their batch: archived (with their reason), trimmed from Redis after the
 * hot period, and still shown `rejected` with the reason, from the archive. A cut whose readings
 * are all left out is never on-chain, never waits for a receipt, and is archived and trimmed too.
 */
describe("left-out readings are archived with their reason and trimmed from Redis (Mosquitto mTLS, Redis, Hardhat, SQLite)", () => {
  let ca: FleetCa;
  let stack: Stack;
  let redis: Service;
  let broker: Service;
  let bridge: Bridge;
  let store: RedisStore;
  let dir: string;
  let archive: SqliteArchive;
  let archived: ArchivedStore;
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
    devices.c = await enrollDevice(stack, ca, "p256");
    const hash = await stack.admin.writeContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        stack.feedId,
        { decimals: 2, quorum: 1, heartbeat: 3600, window: 3600 },
        Object.values(devices).map((d) => d.deviceId),
        "cold room 8",
      ],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
    const certificates = new FleetCertificates(ca.certPem);
    for (const d of Object.values(devices)) certificates.add(d.certPem);
    dir = mkdtempSync(join(tmpdir(), "so-left-out-"));
    const path = join(dir, "archive.sqlite");
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "leftout",
      certificates,
      archive: { archive: new SqliteArchive(path), hotSeconds: 1 },
      push: {
        address: stack.contracts.feeds,
        feeds: [{ feedId: stack.feedId, deviationBps: 1, heartbeatSec: 3600 }],
        intervalMs: 3_600_000, // the test pushes
      },
    }));
    // A second handle on the same file, to look into the archive (WAL: readers beside the writer).
    archive = new SqliteArchive(path);
    await archive.open();
    archived = new ArchivedStore({ hot: store, archive });
    for (const k of Object.keys(devices) as Name[]) {
      agents[k] = await startDeviceAgent(devices[k], siteOn(ca, broker, stack));
    }
  });

  afterAll(async () => {
    for (const a of Object.values(agents)) await a?.stop().catch(() => {});
    await bridge?.stop();
    await archive?.close();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

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
  const verifyOnChain = (r: Served) =>
    stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "verifyReading",
      args: [toReading(r.reading), r.signature, r.proof as Hex[]],
    });
  const onChainBatch = (root: Hex) =>
    stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "getBatch",
      args: [root],
    });
  const mine = async (blocks: number) => {
    for (let i = 0; i < blocks; i++)
      await stack.publicClient.request({ method: "evm_mine" as never, params: [] as never });
  };
  /** Wait until none of these readings is in Redis any more (archived, then trimmed after 1 s). */
  const trimmed = (ids: string[]) =>
    expect
      .poll(async () => (await store.getReadings(ids)).filter((r) => r !== null).length, {
        timeout: 30_000,
        interval: 300,
      })
      .toBe(0);
  /** The stored reading signed again, exactly as the device sent it, published once more. */
  const resend = async (k: Name, stored: StoredReading) => {
    const device = devices[k];
    const reading = toReading(stored);
    const sig = normalizeLowS(
      device.curve,
      signDigest(
        device.curve,
        device.readingSecretKey,
        readingDigest(reading, { chainId: stack.chainId, registry: stack.contracts.oracle }),
      ),
    );
    const acks = () => agents[k].acks.filter((x) => x.sequence === reading.sequence);
    const before = acks().length;
    await agents[k].publishRaw(readingsTopic(device.name), encodeReadingMessage(reading, sig));
    await expect.poll(() => acks().length, { timeout: 20_000 }).toBe(before + 1);
    return acks().at(-1);
  };

  it("archives a left-out reading with its reason, trims it with its batch, and still serves it rejected", async () => {
    const t = now();
    const a1 = await publish("a", 101n, t - 100);
    const b1 = await publish("b", 201n, t - 95);
    const a2 = await publish("a", 102n, t - 80);
    await revokeDevice(writer(), devices.a.deviceId, t - 90); // since before a2, after a1
    await bridge.flush();
    expect(await get(a2)).toMatchObject({ status: "rejected", reason: "revoked" });
    const [stored] = await store.getReadings([a2]);
    expect(stored).not.toBeNull();

    // The batch is final at once (hardhat mines on demand: two more blocks), archived, trimmed.
    await mine(2);
    await bridge.flush(); // reconcile: final
    await trimmed([a1, b1, a2]);
    expect(await store.rootOf(a2)).toBeNull();

    // Served from the archive: still rejected, with the reason (not a generic one).
    const left = await get(a2);
    expect(left).toMatchObject({ status: "rejected", reason: "revoked" });
    expect(left.proof).toBeUndefined();
    // The committed readings of the same batch keep their proofs.
    for (const id of [a1, b1]) {
      const r = await get(id);
      expect(r.status).toBe("committed");
      expect(await verifyOnChain(r)).toBe(r.batch?.root);
    }
    // The pusher beside the archived store: the batch left Redis, the feed is still pushed with
    // the newest reading that verifies (b1); a's newest (a2, left out) is dropped, never sent.
    expect(await bridge.pushFeeds()).toBe(1);
    expect(bridge.metrics.pushDropped).toEqual({ revoked: 1 });
    const round = await stack.publicClient.readContract({
      address: stack.contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "latestRoundData",
      args: [stack.feedId],
    });
    expect(round[1]).toBe(201n);
    const feedLatest = await bridge.app.inject({ method: "GET", url: `/feeds/${stack.feedId}/latest` });
    expect((feedLatest.json() as Served).id).toBe(b1);

    const batch = await archive.getBatch((await get(a1)).batch?.root as Hex);
    expect(batch?.ids).toEqual([a1, b1]);
    expect(batch?.leftOut).toEqual([{ id: a2, reason: "revoked" }]);

    // The device sends the left-out reading again: the store (Redis, then the archive) holds it,
    // so it is a replay, never queued again. Over MQTT the intake answers first: its device is
    // revoked since before it.
    const queued = await store.queueDepth();
    expect(await archived.accept(stored as StoredReading, devices.a.name)).toBe("replay");
    expect(await resend("a", stored as StoredReading)).toMatchObject({
      status: "rejected",
      reason: "revoked",
    });
    expect(await store.queueDepth()).toBe(queued);
    const committed = bridge.metrics.readingsCommitted;
    await bridge.flush();
    expect(bridge.metrics.readingsCommitted).toBe(committed);
  });

  it("archives and trims a cut whose readings were all left out, never on-chain, without waiting for a receipt", async () => {
    const t = now();
    const c1 = await publish("c", 301n, t - 60);
    const c2 = await publish("c", 302n, t - 50);
    await revokeDevice(writer(), devices.c.deviceId, t - 70);
    const batchesBefore = bridge.metrics.batchesCommitted;
    await bridge.flush();
    expect(bridge.metrics.batchesCommitted).toBe(batchesBefore);
    const root = (await store.rootOf(c1)) as Hex;
    expect(root).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await onChainBatch(root)).committedAt).toBe(0n);
    // Not in the reorg watch: nothing to recommit, nothing to wait for.
    expect((await store.unfinalizedBatches()).map((b) => b.root)).not.toContain(root);

    await trimmed([c1, c2]);
    expect(await store.rootOf(c1)).toBeNull();
    expect(await store.getBatch(root)).toBeNull();
    const inArchive = await archive.getBatch(root);
    expect(inArchive).toMatchObject({ ids: [], txHash: `0x${"0".repeat(64)}` });
    expect(inArchive?.leftOut).toEqual([
      { id: c1, reason: "revoked" },
      { id: c2, reason: "revoked" },
    ]);
    for (const id of [c1, c2]) expect(await get(id)).toMatchObject({ status: "rejected", reason: "revoked" });
    const [stored] = await archived.getReadings([c2]);
    expect(await archived.accept(stored as StoredReading, devices.c.name)).toBe("replay");

    // Reconciliation and the archiver go on: nothing recommitted, nothing left in the watch.
    const recommits = bridge.metrics.recommits;
    await bridge.flush();
    expect(bridge.metrics.recommits).toBe(recommits);
    expect(await store.unfinalizedBatches()).toEqual([]);
    expect((await bridge.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
  });
});
