import fc from "fast-check";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AckMessage,
  acksTopic,
  decodeAck,
  REJECTION_REASONS,
  readingsTopic,
} from "../../protocol/index.js";
import { percentile } from "../../testkit/flood.js";
import { floodWhileMeasuring, type HostileScene, startHostileScene } from "../../testkit/hostile-scene.js";

const FLOOD = Number(process.env.SO_TEST_FLOOD ?? 20_000);
const MiB = 1024 * 1024;
const FUZZ = Number(process.env.SO_TEST_FUZZ ?? 2_000);

/**
 * Played as an attacker holding one valid device certificate, against Mosquitto run from the
 * generated config and an in-process bridge: huge and nested messages, and a flood, while another
 * device's readings must still be acknowledged quickly.
 */
describe("hostile input from one device certificate", () => {
  let scene: HostileScene;

  beforeAll(async () => {
    scene = await startHostileScene();
  });

  afterAll(async () => {
    await scene?.stop();
  });

  it.each([
    ["1 MiB of garbage", 1 * MiB, "garbage"],
    ["1 MiB of nested JSON", 1 * MiB, "nested"],
    ["16 MiB of nested JSON", 16 * MiB, "nested"],
    ["256 MiB of garbage", 256 * MiB - 1024, "garbage"],
  ] as const)(
    "does not let %s reach the bridge, which keeps acknowledging another device",
    async (_l, bytes, kind) => {
      const { bridge, victim, infra } = scene;
      const rssBefore = process.memoryUsage().rss;
      const rejectedBefore = bridge.metrics.totalRejected();
      const flood = await scene.flood({ bytes, kind, trailer: true });
      await flood.go();
      flood.stop();
      // The trailer (16 bytes of garbage, sent after) arrives after anything forwarded of the big one.
      await expect
        .poll(() => bridge.metrics.totalRejected() - rejectedBefore, { timeout: 10_000 })
        .toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1_000));
      // Refused at the broker (message_size_limit; the bridge's MQTT 5 maximum packet size): the
      // bridge only ever saw the trailer.
      expect(bridge.metrics.totalRejected() - rejectedBefore).toBe(1);
      expect(bridge.metrics.rejected.oversized).toBe(0);
      const seq = await victim.publish(infra.stack.feedId, 1n);
      expect(await victim.waitForAck(seq, 10_000)).toMatchObject({ status: "queued" });
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * MiB);
    },
  );

  it(`keeps another device's acks fast while one device publishes ${FLOOD} garbage messages, with bounded logs and exact counters`, async () => {
    const r = await floodWhileMeasuring(scene, FLOOD);
    expect(r.sent).toBe(FLOOD);
    expect(r.notQueued).toBe(0);
    expect(r.latencies.length).toBeGreaterThan(3);
    const p99 = percentile(r.latencies, 99);
    console.log(
      `flood of ${FLOOD}: other device's ack p50 ${percentile(r.latencies, 50).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${r.latencies.length} readings`,
    );
    // npm run bench:hostile holds the goal (250 ms at 100,000 messages); a loose bound on shared CI.
    expect(p99).toBeLessThan(2_000);
    // Every message that reached the bridge is counted (QoS 0: the broker may drop some).
    expect(r.rejected).toBeGreaterThan(FLOOD * 0.9);
    expect(r.rejected).toBeLessThanOrEqual(FLOOD);
    const bytesPer100k = (r.logBytes * 100_000) / FLOOD;
    console.log(`log bytes per 100,000 rejected messages: ${bytesPer100k.toFixed(0)}`);
    expect(bytesPer100k).toBeLessThan(1_000_000);
  });
});

/**
 * The wire-format fuzz against the live bridge (protocol/wire.fuzz.test.ts checks the decoder on
 * its own): generated payloads from one device certificate, its rate limit lifted so that each
 * reaches the checks. Each gets an answer with its reason and is counted; the bridge lives.
 */
describe("fuzzed payloads from one device certificate, through the broker to the bridge", () => {
  let scene: HostileScene;

  beforeAll(async () => {
    scene = await startHostileScene({ rateLimit: { perSecond: 1e6, burst: 1e6 } });
  });

  afterAll(async () => {
    await scene?.stop();
  });

  it(`answers each of ${FUZZ} generated payloads with a reason, counts it, and keeps acknowledging others`, async () => {
    const { attacker, bridge, ca, infra, victim } = scene;
    const payloads = fc.sample(fuzzPayload(), { numRuns: FUZZ, seed: 1_729 });
    const client = await mqtt.connectAsync(infra.broker.url, {
      ca: ca.certPem,
      cert: attacker.certPem,
      key: attacker.keyPem,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    const answers: AckMessage[] = [];
    client.on("message", (_t, payload) => {
      const ack = decodeAck(payload);
      if (ack) answers.push(ack);
    });
    await client.subscribeAsync(acksTopic(attacker.name), { qos: 1 });
    const rejectedBefore = bridge.metrics.totalRejected();
    try {
      for (let i = 0; i < payloads.length; i += 100) {
        const chunk = payloads.slice(i, i + 100);
        await Promise.all(chunk.map((p) => client.publishAsync(readingsTopic(attacker.name), p, { qos: 1 })));
      }
      await expect.poll(() => answers.length, { timeout: 30_000 }).toBe(FUZZ);
    } finally {
      await client.endAsync();
    }
    expect(bridge.metrics.totalRejected() - rejectedBefore).toBe(FUZZ);
    expect(bridge.metrics.accepted).toBe(0);
    for (const a of answers) {
      expect(a.status).toBe("rejected");
      expect(REJECTION_REASONS).toContain(a.status === "rejected" ? a.reason : "");
    }
    const seq = await victim.publish(infra.stack.feedId, 2n);
    expect(await victim.waitForAck(seq, 10_000)).toMatchObject({ status: "queued" });
  });
});

/** Payloads near and far from a reading: random bytes, JSON values, and valid-looking objects bent. */
function fuzzPayload(): fc.Arbitrary<Buffer> {
  const hex = (bytes: number) =>
    fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => `0x${Buffer.from(b).toString("hex")}`);
  const readingLike = fc.record(
    {
      v: fc.oneof(fc.constant(1), fc.integer(), fc.string()),
      feedId: fc.oneof(hex(32), fc.string()),
      value: fc.oneof(fc.bigInt().map(String), fc.string(), fc.double()),
      timestamp: fc.oneof(fc.nat(), fc.double(), fc.string()),
      sequence: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String), fc.string()),
      signature: fc.oneof(hex(64), hex(65), fc.string()),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    // Up to 1,400 bytes: above the bridge's 1,024 (answered oversized), below what the broker
    // forwards to it (MAX_BRIDGE_PACKET_BYTES with the topic).
    fc.uint8Array({ maxLength: 1_400 }).map((b) => Buffer.from(b)),
    fc.jsonValue().map((j) => Buffer.from(JSON.stringify(j) ?? "null")),
    readingLike.map((r) => Buffer.from(JSON.stringify(r))),
  );
}
