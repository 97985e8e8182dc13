import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bridge, startBridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { RedisStore } from "../../bridge/store/redis-store.js";
import { DeviceAgent } from "../../device-agent/agent.js";
import { SoftwareSigner } from "../../device-agent/signer.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { ackLatencies, percentile, prepareFlood } from "../../testkit/flood.js";
import type { FloodJob } from "../../testkit/flood-publisher.js";
import { bridgeOn, startTestInfra, type TestInfra } from "../../testkit/infra.js";
import { enrollDevice } from "../../testkit/stack.js";

const FLOOD = Number(process.env.SO_TEST_FLOOD ?? 20_000);
const MiB = 1024 * 1024;

/**
 * Played as an attacker holding one valid device certificate, against Mosquitto run from the
 * generated config and an in-process bridge: huge and nested messages, and a flood, while another
 * device's readings must still be acknowledged quickly.
 */
describe("hostile input from one device certificate", () => {
  let ca: FleetCa;
  let infra: TestInfra;
  let bridge: Bridge;
  let store: RedisStore;
  let dir: string;
  let attacker: IssuedDevice;
  let victim: DeviceAgent;
  let logBytes = 0;

  const floodJob = (over: Partial<FloodJob>): FloodJob => ({
    url: infra.broker.url,
    ca: ca.certPem,
    device: { name: attacker.name, cert: attacker.certPem, key: attacker.keyPem },
    count: 1,
    bytes: 64,
    kind: "garbage",
    qos: 0,
    ...over,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "so-hostile-"));
    ca = await createFleetCa();
    infra = await startTestInfra(ca);
    attacker = await enrollDevice(infra.stack, ca, "p256");
    const good = await enrollDevice(infra.stack, ca, "p256");
    const certificates = new FleetCertificates(ca.certPem);
    for (const d of [attacker, good]) certificates.add(d.certPem);
    store = new RedisStore({ url: infra.redis.url, prefix: "hostile" });
    const counting = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logBytes += chunk.length;
        cb();
      },
    });
    bridge = await startBridge({
      ...bridgeOn(ca, infra),
      certificates,
      store,
      batchIntervalMs: 60_000,
      log: pino({ level: "info" }, counting),
    });
    victim = new DeviceAgent({
      deviceName: good.name,
      signer: new SoftwareSigner(good.curve, good.readingSecretKey, { warn: () => {} }),
      domain: { chainId: infra.stack.chainId, registry: infra.stack.contracts.registry },
      mqtt: { url: infra.broker.url, ca: ca.certPem, cert: good.certPem, key: good.keyPem },
    });
    await victim.start();
  });

  afterAll(async () => {
    await victim?.stop();
    await bridge?.stop();
    await store?.close();
    await Promise.all([infra?.broker.stop(), infra?.redis.stop(), infra?.stack.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ["1 MiB of garbage", 1 * MiB, "garbage"],
    ["1 MiB of nested JSON", 1 * MiB, "nested"],
    ["16 MiB of nested JSON", 16 * MiB, "nested"],
    ["256 MiB of garbage", 256 * MiB - 1024, "garbage"],
  ] as const)(
    "does not let %s reach the bridge, which keeps acknowledging another device",
    async (_l, bytes, kind) => {
      const rssBefore = process.memoryUsage().rss;
      const rejectedBefore = bridge.metrics.totalRejected();
      const flood = await prepareFlood(dir, floodJob({ bytes, kind }));
      await flood.go();
      flood.stop();
      const seq = await victim.publish(infra.stack.feedId, 1n);
      expect(await victim.waitForAck(seq, 10_000)).toMatchObject({ status: "queued" });
      // Refused at the broker (message_size_limit): the bridge never parsed it.
      expect(bridge.metrics.totalRejected()).toBe(rejectedBefore);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * MiB);
    },
  );

  it(`keeps another device's acks fast while one device publishes ${FLOOD} garbage messages, with bounded logs and exact counters`, async () => {
    const rejectedBefore = bridge.metrics.totalRejected();
    const logBefore = logBytes;
    const flood = await prepareFlood(dir, floodJob({ count: FLOOD }));
    const sent = flood.go();
    // Measured until the bridge has worked through the flood (what the broker forwarded of it).
    const drained = sent.then(async ({ sent: n }) => {
      const deadline = Date.now() + 60_000;
      while (bridge.metrics.totalRejected() - rejectedBefore < n * 0.9 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
    });
    const { latencies, notQueued } = await ackLatencies(victim, infra.stack.feedId, 50, drained);
    const { sent: n } = await sent;
    flood.stop();
    expect(n).toBe(FLOOD);
    expect(notQueued).toBe(0);
    expect(latencies.length).toBeGreaterThan(3);
    // The benchmark (npm run bench:hostile) holds the goal of 250 ms at 100,000 messages; here a
    // loose bound on a shared CI machine.
    const p99 = percentile(latencies, 99);
    console.log(
      `flood of ${FLOOD}: other device's ack p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${latencies.length} readings`,
    );
    expect(p99).toBeLessThan(2_000);
    // Every message that reached the bridge is counted (QoS 0: the broker may drop some).
    await expect
      .poll(() => bridge.metrics.totalRejected() - rejectedBefore, { timeout: 20_000 })
      .toBeGreaterThan(FLOOD * 0.9);
    expect(bridge.metrics.totalRejected() - rejectedBefore).toBeLessThanOrEqual(FLOOD);
    const bytesPer100k = ((logBytes - logBefore) * 100_000) / FLOOD;
    console.log(`log bytes per 100,000 rejected messages: ${bytesPer100k.toFixed(0)}`);
    expect(bytesPer100k).toBeLessThan(1_000_000);
  });
});
