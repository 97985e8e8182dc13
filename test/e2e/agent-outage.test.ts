import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { agentHealthOf } from "../../device-agent/agent-health.js";
import { createFleetCa } from "../../pki/fleet-ca.js";
import { commitCounts, siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import { enrollDevice } from "../../testkit/stack.js";
import { startTcpProxy } from "../../testkit/tcp-proxy.js";

/** The outage, in seconds (CI: 20 s; `npm run bench:agent` runs the 5-minute one). */
const OUTAGE_S = Number(process.env.SO_TEST_OUTAGE_S ?? 20);
const RATE = 10; // readings per second, taken throughout

/**
 * The broker out of reach (the link to it cut) while the agent keeps taking readings at 10/s:
 * they wait in its outbox file; when the broker is back it reconnects (backoff with jitter) and
 * drains the backlog oldest first while new readings keep coming, and every reading is
 * committed exactly once. Real Mosquitto with mTLS, Redis, the bridge and the chain.
 */
describe("the broker down while the agent keeps taking readings", () => {
  const stops: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it(
    `commits all ${(OUTAGE_S + 10) * RATE} readings taken across a ${OUTAGE_S} s outage exactly once`,
    async () => {
      const ca = await createFleetCa();
      const infra = await startTestInfra(ca);
      stops.push(() => Promise.all([infra.broker.stop(), infra.redis.stop(), infra.stack.close()]));
      const d = await enrollDevice(infra.stack, ca, "p256");
      const certificates = new FleetCertificates(ca.certPem);
      certificates.add(d.certPem);
      const { bridge, store } = await startTestBridge(ca, infra, {
        prefix: "agent-outage",
        certificates,
        rateLimit: { perSecond: 2_000, burst: 2_000 },
      });
      stops.push(
        () => store.close(),
        () => bridge.stop(),
      );
      const link = await startTcpProxy(infra.broker.port);
      stops.push(() => link.stop());
      const dir = mkdtempSync(join(tmpdir(), "so-agent-outage-"));
      stops.push(async () => rmSync(dir, { recursive: true, force: true }));

      const feed = "cold-room-7/temperature";
      const site = { ...siteOn(ca, { url: `mqtts://127.0.0.1:${link.port}` }, infra.stack) };
      const agent: DeviceAgent = await startDeviceAgent(d, site, {
        feeds: [feed],
        outbox: { path: join(dir, "outbox.db") },
        reconnect: { minMs: 200, maxMs: 2_000 },
      });
      stops.push(() => agent.close());

      // Readings at 10/s for 5 s, then the outage, then 5 s more after the link is back.
      const taken: bigint[] = [];
      let deepest = 0;
      const takeFor = async (seconds: number) => {
        for (let i = 0; i < seconds * RATE; i++) {
          const t = Date.now();
          const { sequence } = await agent.take({
            feed,
            value: BigInt(400 + (taken.length % 50)),
            takenAt: BigInt(Math.floor(t / 1000)),
          });
          taken.push(sequence);
          deepest = Math.max(deepest, agent.buffered);
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 / RATE - (Date.now() - t))));
        }
      };
      await takeFor(5);
      await link.cut();
      await takeFor(OUTAGE_S);
      const during = await agentHealthOf(agent);
      expect(during.connected).toBe(false);
      expect(during.outbox.readings).toBeGreaterThanOrEqual(OUTAGE_S * RATE - RATE);
      await link.restore();
      const back = Date.now();
      await takeFor(5);
      await expect.poll(() => agent.buffered, { timeout: 60_000, interval: 100 }).toBe(0);
      const drainedInMs = Date.now() - back;

      const health = await agentHealthOf(agent);
      console.log(
        `outage of ${OUTAGE_S} s at ${RATE}/s: ${taken.length} readings taken, at most ${deepest} in the outbox, ` +
          `empty ${(drainedInMs / 1000).toFixed(1)} s after the broker was back (5 s of new readings taken meanwhile), ${health.reconnects} reconnect(s)`,
      );
      expect(health.reconnects).toBeGreaterThanOrEqual(1);
      expect(health.replayAlarms).toBe(0);
      await bridge.flush();
      const c = await commitCounts(store, d.name, taken);
      expect(c.lost).toEqual([]);
      expect(c.twice).toBe(0);
      expect(c.once).toBe(taken.length);
    },
    180_000 + OUTAGE_S * 1_000,
  );
});
