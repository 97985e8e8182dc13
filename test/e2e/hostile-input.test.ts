import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { percentile } from "../../testkit/flood.js";
import { floodWhileMeasuring, type HostileScene, startHostileScene } from "../../testkit/hostile-scene.js";

const FLOOD = Number(process.env.SO_TEST_FLOOD ?? 20_000);
const MiB = 1024 * 1024;

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
