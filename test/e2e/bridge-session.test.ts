import { Redis } from "ioredis";
import mqtt, { type MqttClient } from "mqtt";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presign } from "../../bench/ingest.js";
import { type Bridge, startBridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { acksTopic, readingsTopic } from "../../protocol/index.js";
import { bridgeOn, startTestInfra, type TestInfra } from "../../testkit/infra.js";
import { enrollDevice } from "../../testkit/stack.js";

// The bridge's own MQTT connection under a burst it cannot take at once (bench:fleet: "Keepalive
// timeout" in every run, and what the broker held for the bridge lost with its clean session).
// Devices publish signed readings at QoS 1 as fast as the broker takes them; the test counts what
// the broker accepted (PUBACKs to the devices) against what the bridge answered (acks, by
// sequence). A short keepalive (1 s: PINGREQ after 1 s of silence, given up 0.5 s later) and a
// small intake window (8 readings in flight) make the backlog outlast the keepalive quickly.
const DEVICES = 4;
const PER_DEVICE = 2_000;
const WINDOW = 200; // QoS 1 publishes in flight per device
const KEEPALIVE_SEC = 1;
const MAX_IN_FLIGHT = 8;

type Publisher = { device: IssuedDevice; client: MqttClient; accepted: Set<string>; answered: Set<string> };

describe("the bridge's MQTT session under a burst bigger than it takes within its keepalive", () => {
  let ca: FleetCa;
  let infra: TestInfra;
  let bridge: Bridge;
  let store: RedisStore;
  let certificates: FleetCertificates;
  const publishers: Publisher[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    ca = await createFleetCa();
    infra = await startTestInfra(ca);
    certificates = new FleetCertificates(ca.certPem);
    store = new RedisStore({ url: infra.redis.url, prefix: "session" });
    const on = bridgeOn(ca, infra);
    bridge = await startBridge({
      ...on,
      mqtt: { ...on.mqtt, keepaliveSec: KEEPALIVE_SEC },
      id: "bridge-session",
      store,
      certificates,
      batchIntervalMs: 60_000,
      maxInFlight: MAX_IN_FLIGHT,
      rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
      log: pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) }),
    });
    await bridge.subscribed;
  }, 120_000);

  afterAll(async () => {
    for (const p of publishers) await p.client.endAsync(true).catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([infra?.broker.stop(), infra?.redis.stop(), infra?.stack.close()]);
  });

  /** DEVICES new enrolled devices, connected and listening to their acks. */
  async function newPublishers(): Promise<Publisher[]> {
    const out: Publisher[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const device = await enrollDevice(infra.stack, ca, "p256");
      certificates.add(device.certPem);
      const client = await mqtt.connectAsync(infra.broker.url, {
        ca: ca.certPem,
        cert: device.certPem,
        key: device.keyPem,
        protocolVersion: 5,
        clientId: device.name,
        reconnectPeriod: 0,
      });
      const answered = new Set<string>();
      client.on("message", (_topic, payload) => {
        const sequence = (JSON.parse(payload.toString()) as { sequence?: string }).sequence;
        if (sequence) answered.add(sequence);
      });
      await client.subscribeAsync(acksTopic(device.name), { qos: 0 });
      out.push({ device, client, accepted: new Set(), answered });
    }
    publishers.push(...out);
    return out;
  }

  /** Every device's PER_DEVICE readings, WINDOW at a time; records those the broker acknowledged. */
  async function burst(ps: Publisher[]): Promise<void> {
    const domain = { chainId: infra.stack.chainId, registry: infra.stack.contracts.oracle };
    await Promise.all(
      ps.map(async (p) => {
        const { payloads } = presign(p.device, domain, infra.stack.feedId, PER_DEVICE);
        let next = 0;
        const lane = async () => {
          while (next < payloads.length) {
            const i = next++;
            // mqtt.js rejects on an error PUBACK (reason code 0x80 or above) and on a lost connection.
            const ok = await p.client
              .publishAsync(readingsTopic(p.device.name), payloads[i] as string, { qos: 1 })
              .then(
                () => true,
                () => false,
              );
            if (ok) p.accepted.add(String(i + 1));
          }
        };
        await Promise.all(Array.from({ length: WINDOW }, lane));
      }),
    );
  }

  /**
   * Accepted by the broker; of those, stored by the bridge (in Redis: what its "queued" ack
   * promises) and answered (acks are QoS 0: one lost at a reconnection is sent again to a device
   * that sends the reading again; these publishers do not), once the bridge's work stops growing.
   */
  async function settle(ps: Publisher[]): Promise<{ accepted: number; stored: number; answered: number }> {
    const accepted = ps.reduce((n, p) => n + p.accepted.size, 0);
    const ids = ps.flatMap((p) => [...p.accepted].map((s) => readingId(p.device.name, BigInt(s))));
    let stored = -1;
    for (let last = -2; stored !== last && stored < accepted; ) {
      last = stored;
      await new Promise((r) => setTimeout(r, 3_000));
      stored = (await store.getReadings(ids)).filter((r) => r !== null).length;
    }
    const answered = ps.reduce((n, p) => n + [...p.answered].filter((s) => p.accepted.has(s)).length, 0);
    return { accepted, stored, answered };
  }

  const keepaliveTimeouts = () => warnings.filter((l) => l.includes("Keepalive timeout")).length;

  it("keeps its connection through the burst and answers every reading the broker accepted", async () => {
    const ps = await newPublishers();
    const t0 = performance.now();
    await burst(ps);
    const { accepted, stored, answered } = await settle(ps);
    console.log(
      `burst: ${accepted} accepted by the broker, ${stored} stored and ${answered} answered by the bridge, ${keepaliveTimeouts()} keepalive timeouts (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    expect(accepted).toBe(DEVICES * PER_DEVICE);
    expect(keepaliveTimeouts()).toBe(0);
    expect(stored).toBe(accepted);
    expect(answered).toBe(accepted);
  }, 300_000);

  it("answers every reading the broker accepted even when Redis stalls longer than the keepalive", async () => {
    const ps = await newPublishers();
    const before = keepaliveTimeouts();
    const admin = new Redis(infra.redis.url);
    // Redis answers no client for 3 s: the intake's readings wait, the bridge holds PUBACKs, the
    // keepalive runs out and the connection drops; the broker keeps the session's readings.
    await admin.call("CLIENT", "PAUSE", "3000", "ALL");
    await burst(ps);
    const { accepted, stored, answered } = await settle(ps);
    await admin.quit();
    console.log(
      `Redis stalled: ${accepted} accepted by the broker, ${stored} stored and ${answered} answered by the bridge, ${keepaliveTimeouts() - before} keepalive timeouts`,
    );
    expect(accepted).toBe(DEVICES * PER_DEVICE);
    expect(stored).toBe(accepted);
  }, 300_000);
});
