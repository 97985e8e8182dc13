import { p256 } from "@noble/curves/nist.js";
import { createPublicClient, custom, type Hex, http, type PublicClient } from "viem";
import { hardhat } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorOracleAbi } from "../../chain/abi.js";
import { Curve, deviceIdOf, splitPublicKey } from "../../protocol/index.js";
import { type ChainNode, deployOverHttp, startHardhatNode } from "../../testkit/chain-node.js";
import { startTcpProxy, type TcpProxy } from "../../testkit/tcp-proxy.js";
import { RegistryCache, recordBytes } from "./chain-registry.js";

// RegistryCache against a real `hardhat node` over HTTP: contract reads counted per JSON-RPC
// method through a counting transport, the event reader cut off through a TCP proxy.

let node: ChainNode;
let registry: Hex;
let proxy: TcpProxy;
const calls = new Map<string, number>();
const ethCalls = () => calls.get("eth_call") ?? 0;
/** eth_call requests under way now, and the most seen at once. */
const concurrent = { now: 0, max: 0 };
/** A client on the node that counts the JSON-RPC requests it sends, by method. */
let counted: PublicClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newDevice() {
  const publicKey = p256.getPublicKey(p256.utils.randomSecretKey(), false);
  const { x, y } = splitPublicKey(publicKey);
  return {
    deviceId: deviceIdOf("p256", publicKey),
    curve: Curve.p256,
    x,
    y,
    certFingerprint: `0x${"ab".repeat(32)}` as Hex,
    validFrom: 1,
  };
}

async function send(functionName: "registerBatch" | "revoke" | "rotate", args: readonly unknown[]) {
  const hash = await node.admin.writeContract({
    address: registry,
    abi: sensorOracleAbi,
    functionName,
    args,
  } as never);
  const receipt = await node.admin.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe("success");
}

/** Register `n` new devices in one transaction; returns their ids. */
async function register(n: number): Promise<Hex[]> {
  const devices = Array.from({ length: n }, newDevice);
  await send("registerBatch", [devices]);
  return devices.map((d) => d.deviceId);
}

const revoke = async (deviceId: Hex) => send("revoke", [deviceId, Math.floor(Date.now() / 1000) - 60]);

/** Wait until `cond` holds (polled every 20 ms); returns the ms waited, or throws after `limitMs`. */
async function within(limitMs: number, cond: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > limitMs) throw new Error(`not within ${limitMs} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

beforeAll(async () => {
  node = await startHardhatNode();
  registry = (await deployOverHttp(node)).oracle;
  proxy = await startTcpProxy(Number(new URL(node.url).port));
  counted = createPublicClient({
    chain: hardhat,
    transport: custom({
      request: async ({ method, params }) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        if (method !== "eth_call") return node.publicClient.request({ method, params } as never);
        concurrent.now += 1;
        concurrent.max = Math.max(concurrent.max, concurrent.now);
        try {
          return await node.publicClient.request({ method, params } as never);
        } finally {
          concurrent.now -= 1;
        }
      },
    }),
  });
});

afterAll(async () => {
  await proxy?.stop();
  node?.stop();
});

describe("RegistryCache at fleet scale", () => {
  it("reads each device once while the event sync works: no contract read per reading after the first", async () => {
    const ids = await register(20);
    // A TTL far shorter than the wait below: were records still re-read after it, the reads would show.
    const cache = new RegistryCache(counted, registry, { ttlMs: 300 });
    const stop = cache.watch(100);
    try {
      await cache.sync();
      const before = ethCalls();
      // Ten readings of one device at once: one read (getDevice and pastKeyCount in one call).
      await Promise.all(Array.from({ length: 10 }, () => cache.get(ids[0] as Hex)));
      expect(ethCalls() - before).toBe(1);
      // The nineteen others, asked for together: one call (25 a call).
      const warm = await Promise.all(ids.map((id) => cache.get(id)));
      expect(warm.every((d) => d?.status === "active")).toBe(true);
      expect(ethCalls() - before).toBe(2);
      // Well past the TTL, with the sync polling: readings of every device, no read.
      await sleep(1_200);
      const after = ethCalls();
      for (let i = 0; i < 5; i++) await Promise.all(ids.map((id) => cache.get(id)));
      expect(ethCalls() - after).toBe(0);
      expect(calls.get("eth_blockNumber") ?? 0).toBeGreaterThan(3); // the sync kept polling meanwhile
    } finally {
      stop();
    }
  });

  it("refuses a revoked device from the first event poll after the revocation's block", async () => {
    const [id] = (await register(1)) as [Hex];
    const pollMs = 200;
    const cache = new RegistryCache(counted, registry, { ttlMs: 60_000 });
    const stop = cache.watch(pollMs);
    try {
      await cache.sync();
      expect((await cache.get(id))?.status).toBe("active");
      await revoke(id);
      // The documented bound: one polling interval plus an eth_blockNumber and an eth_getLogs
      // round trip (the margin is for this shared 2-core machine), not the 60 s TTL.
      const waited = await within(pollMs + 2_000, async () => (await cache.get(id))?.status === "revoked");
      expect(waited).toBeLessThan(pollMs + 2_000);
    } finally {
      stop();
    }
  });

  it("accepts a device registered after it was found unknown, from the next sync", async () => {
    const device = newDevice();
    const cache = new RegistryCache(counted, registry, { ttlMs: 60_000 });
    await cache.sync();
    expect(await cache.get(device.deviceId)).toBeNull(); // cached as unknown
    await send("registerBatch", [[device]]);
    await cache.sync(); // sees DeviceRegistered: the cached null is dropped
    expect((await cache.get(device.deviceId))?.status).toBe("active");
  });

  it("reads records again after the TTL while the event sync fails", async () => {
    const [id] = (await register(1)) as [Hex];
    const ttlMs = 500;
    // Events through the proxy (cut below), records straight from the node.
    const eventsClient = createPublicClient({
      chain: hardhat,
      transport: http(proxy.url, { retryCount: 0 }),
    });
    const cache = new RegistryCache(counted, registry, { ttlMs, eventsClient });
    await cache.sync();
    const stop = cache.watch(100);
    try {
      expect((await cache.get(id))?.status).toBe("active");
      await proxy.cut();
      await revoke(id);
      const before = ethCalls();
      // No event can tell the cache: the TTL bounds how long it serves the record it has.
      const waited = await within(ttlMs + 3_000, async () => (await cache.get(id))?.status === "revoked");
      expect(waited).toBeLessThan(ttlMs + 3_000);
      expect(ethCalls() - before).toBeGreaterThan(0);
    } finally {
      stop();
      await proxy.restore();
    }
  });

  it("keeps the records within its memory bound, least recently used dropped first", async () => {
    const ids = await register(30);
    const active = (await new RegistryCache(counted, registry).get(ids[0] as Hex)) ?? null;
    const maxBytes = 10 * recordBytes(active);
    const cache = new RegistryCache(counted, registry, { maxBytes });
    await cache.sync();
    for (const id of ids) expect((await cache.get(id))?.status).toBe("active");
    expect(cache.size.records).toBe(10);
    expect(cache.size.bytes).toBeLessThanOrEqual(maxBytes);
    // The most recent ten are served without a read, the first one is read again.
    const before = ethCalls();
    await Promise.all(ids.slice(20).map((id) => cache.get(id)));
    expect(ethCalls() - before).toBe(0);
    await cache.get(ids[0] as Hex);
    expect(ethCalls() - before).toBe(1);
  });

  it("reads a fleet connecting at once in few calls, at most maxConcurrentReads under way", async () => {
    const ids = await register(40);
    const cache = new RegistryCache(counted, registry, { maxConcurrentReads: 2, readBatchSize: 10 });
    await cache.sync();
    concurrent.max = 0;
    const before = ethCalls();
    const devices = await Promise.all(ids.map((id) => cache.get(id)));
    expect(devices.every((d) => d?.status === "active")).toBe(true);
    expect(devices.map((d) => d && deviceIdOf(d.curve, d.publicKey))).toEqual(ids); // each its own record
    expect(ethCalls() - before).toBe(4); // 40 devices, 10 a call
    expect(concurrent.max).toBe(2);
  });

  it("reads active, revoked, rotated and unknown devices in one call, each its own record", async () => {
    const [active, revoked, rotated] = (await register(3)) as [Hex, Hex, Hex];
    await revoke(revoked);
    const next = newDevice();
    const at = Math.floor(Date.now() / 1000) - 30;
    await send("rotate", [rotated, next.curve, next.x, next.y, next.certFingerprint, at]);
    const unknown = newDevice().deviceId;
    const cache = new RegistryCache(counted, registry);
    await cache.sync();
    const [a, r, k, u] = await Promise.all([active, revoked, rotated, unknown].map((id) => cache.get(id)));
    expect(a).toMatchObject({ status: "active", pastKeys: [] });
    expect(r).toMatchObject({ status: "revoked", pastKeys: [] });
    expect(r?.revokedAt).toBeGreaterThan(0);
    expect(k).toMatchObject({ status: "active", validFrom: at });
    expect(Buffer.from(k?.publicKey ?? []).toString("hex")).toBe(`04${next.x.slice(2)}${next.y.slice(2)}`);
    expect(k?.pastKeys).toHaveLength(1);
    expect(k?.pastKeys[0]).toMatchObject({ validFrom: 1, validUntil: at });
    expect(u).toBeNull();
  });
});
