import Fastify from "fastify";
import type { Hex } from "viem";
import { describe, expect, it } from "vitest";
import { ReadingRejectedError } from "../../protocol/index.js";
import type { DeviceInfo } from "../device-view.js";
import { Metrics } from "../metrics.js";
import { ReadingValidity } from "../reading-validity.js";
import { MemoryRegistry } from "../registry/memory-registry.js";
import { MemoryStore } from "../store/memory-store.js";
import type { StoredReading } from "../store/types.js";
import { buildApp } from "./app.js";
import { FleetActivity } from "./fleet-activity.js";
import { FLEET_PAGE_CSP } from "./fleet-page.js";
import { fleetSummaryRoutes } from "./fleet-summary.js";

const nameA = "a".repeat(64);
const nameB = "b".repeat(64);
const silent = "c".repeat(64);
const feed = `0x${"f".repeat(64)}` as Hex;

const reading = (name: string, sequence: number, value: number): StoredReading => ({
  id: `${name}:${sequence}`,
  deviceId: `0x${name}` as Hex,
  feedId: feed,
  value: String(value),
  timestamp: String(1_800_000_000 + sequence),
  sequence: String(sequence),
  signature: "0x00",
  curve: "p256",
  receivedAt: 1_800_000_000_000 + sequence,
});

const info = (name: string, status: "active" | "revoked"): DeviceInfo => ({
  name,
  deviceId: `0x${name}` as Hex,
  certificate: null,
  registry: { curve: "p256", status, validFrom: 0, revokedAt: 0, certFingerprint: "0x00" },
});

describe("fleet summary and page", () => {
  it("lists devices seen then enrolled, with last reading, refusals, feed values and committed batches", async () => {
    const store = new MemoryStore();
    const activity = new FleetActivity();
    for (const [name, seq, value] of [
      [nameA, 1, 10],
      [nameA, 2, 12],
      [nameB, 1, 30],
    ] as const) {
      const r = reading(name, seq, value);
      expect(await store.accept(r, name)).toBe("queued");
      activity.accepted({ id: r.id, reading: undefined as never, stored: r });
    }
    activity.rejected(nameA, new ReadingRejectedError("bad_signature", "x").reason);
    activity.rejected(nameA, "future_timestamp");
    activity.rejected(nameA, "replay"); // a delivery, not a refusal
    activity.rejected(nameA, "unavailable"); // the store's outage, not the device's fault
    activity.rejected(null, "malformed");
    const batch = (await store.nextBatch(10, 0)) as NonNullable<
      Awaited<ReturnType<MemoryStore["nextBatch"]>>
    >;
    const committed = {
      root: `0x${"1".repeat(64)}` as Hex,
      ids: batch.ids,
      txHash: `0x${"2".repeat(64)}` as Hex,
      blockNumber: "7",
      gasUsed: "81000",
      committedAt: 1,
    };
    await store.completeBatch(batch, committed, 0, [
      { feedId: feed, timestamp: "1800000002", id: `${nameA}:2` },
    ]);
    activity.committed(committed);

    const app = buildApp({
      store,
      metrics: new Metrics(),
      device: async (name) =>
        name === nameB ? info(name, "revoked") : name === nameA ? info(name, "active") : null,
      fleet: { activity, enrolled: () => [silent, nameA] },
    });
    const res = await app.inject({ url: "/fleet/summary" });
    expect(res.statusCode).toBe(200);
    const s = res.json();
    expect(s.devicesTotal).toBe(3);
    expect(s.devices.map((d: { name: string }) => d.name)).toEqual([nameA, nameB, silent]); // A refused last
    const [a, b, c] = s.devices;
    expect(b).toMatchObject({
      status: "revoked",
      accepted: 1,
      rejected: 0,
      lastReading: { value: "30", sequence: "1" },
    });
    expect(a).toMatchObject({
      status: "active",
      accepted: 2,
      rejected: 2,
      rejections: { bad_signature: 1, future_timestamp: 1 },
      lastRejection: { reason: "future_timestamp" },
      lastReading: { id: `${nameA}:2`, value: "12", feedId: feed },
    });
    expect(c).toMatchObject({ status: "unregistered", accepted: 0, lastReading: null, lastSeenAt: null });
    expect(s.feeds).toEqual([
      {
        feedId: feed,
        latestCommitted: { id: `${nameA}:2`, value: "12", timestamp: "1800000002", root: committed.root },
        recent: [
          { value: "10", timestamp: "1800000001", receivedAt: 1_800_000_000_001 },
          { value: "12", timestamp: "1800000002", receivedAt: 1_800_000_000_002 },
          { value: "30", timestamp: "1800000001", receivedAt: 1_800_000_000_001 },
        ],
      },
    ]);
    expect(s.batches).toEqual([
      {
        root: committed.root,
        txHash: committed.txHash,
        blockNumber: "7",
        gasUsed: "81000",
        committedAt: 1,
        readings: 3,
        leftOut: 0,
      },
    ]);
    await app.close();

    // A revocation dated back before the feed's latest committed reading: the page shows no
    // committed value for the feed, as /feeds/:feedId/latest answers 404.
    const registry = new MemoryRegistry();
    for (const name of [nameA, nameB])
      registry.set(`0x${name}`, {
        curve: "p256",
        status: "active",
        validFrom: 0,
        revokedAt: 0,
        publicKey: new Uint8Array(65),
        certFingerprint: "0x00",
        pastKeys: [],
      });
    const validity = new ReadingValidity(registry, { chainId: 1, registry: `0x${"5e".repeat(20)}` });
    const checked = buildApp({ store, metrics: new Metrics(), validity, fleet: { activity } });
    const before = (await checked.inject({ url: "/fleet/summary" })).json();
    expect(before.feeds[0].latestCommitted).toMatchObject({ id: `${nameA}:2`, value: "12" });
    registry.revoke(`0x${nameA}`, 1_800_000_002);
    expect((await checked.inject({ url: `/feeds/${feed}/latest` })).statusCode).toBe(404);
    const after = (await checked.inject({ url: "/fleet/summary" })).json();
    expect(after.feeds[0].latestCommitted).toBeNull();
    expect(after.feeds[0].recent).toHaveLength(3);
    await checked.close();
  });

  it("reads a listed device's record once per deviceInfoTtlMs, not at every poll", async () => {
    const calls: string[] = [];
    const device = async (name: string) => {
      calls.push(name);
      return info(name, "active");
    };
    const poll = async (ttlMs: number) => {
      const app = Fastify();
      void app.register(fleetSummaryRoutes, {
        activity: new FleetActivity(),
        store: new MemoryStore(),
        device,
        enrolled: () => [nameA, nameB],
        deviceInfoTtlMs: ttlMs,
      });
      for (let i = 0; i < 3; i++) expect((await app.inject({ url: "/fleet/summary" })).statusCode).toBe(200);
      await app.close();
    };
    await poll(60_000);
    expect(calls).toEqual([nameA, nameB]);
    calls.length = 0;
    await poll(0);
    expect(calls).toHaveLength(6);
  });

  it("keeps a bounded history: the least recently seen device and the oldest points go first", () => {
    const activity = new FleetActivity({ maxDevices: 2, pointsPerFeed: 2, batches: 1 });
    for (const [name, seq] of [
      [nameA, 1],
      [nameB, 1],
      [nameA, 2],
      [silent, 1],
    ] as const) {
      const r = reading(name, seq, seq);
      activity.accepted({ id: r.id, reading: undefined as never, stored: r });
    }
    expect(activity.devices().map((d) => d.name)).toEqual([silent, nameA]);
    expect(activity.feeds()[0]?.points.map((p) => p.id)).toEqual([`${nameA}:2`, `${silent}:1`]);
  });

  it("serves the page and its assets under a self-only Content-Security-Policy, outside the OpenAPI document", async () => {
    const app = buildApp({ store: new MemoryStore(), metrics: new Metrics() });
    for (const [url, type] of [
      ["/fleet", "text/html"],
      ["/fleet/fleet.js", "text/javascript"],
      ["/fleet/fleet.css", "text/css"],
    ] as const) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers["content-type"]).toContain(type);
      expect(res.headers["content-security-policy"]).toBe(FLEET_PAGE_CSP);
    }
    expect(FLEET_PAGE_CSP).toContain("default-src 'self'");
    expect(FLEET_PAGE_CSP).not.toMatch(/unsafe|\*|https?:/);
    const paths = Object.keys((await app.inject({ url: "/openapi.json" })).json().paths);
    expect(paths).toContain("/fleet/summary");
    expect(paths).not.toContain("/fleet");
    await app.close();
  });
});
