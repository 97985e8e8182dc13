import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { type Bridge, startBridge } from "../bridge/bridge.js";
import { FleetCertificates } from "../bridge/certificates.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import { DeviceAgent } from "../device-agent/agent.js";
import { SoftwareSigner } from "../device-agent/signer.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import { ackLatencies, type Flood, prepareFlood } from "./flood.js";
import type { FloodJob } from "./flood-publisher.js";
import { bridgeOn, startTestInfra, type TestInfra } from "./infra.js";
import { enrollDevice } from "./stack.js";

/**
 * An attacker holding one valid device certificate, a well-behaved device beside it, and a bridge
 * (in this process, with its default rate limits, logging at info to a byte counter) on Mosquitto
 * run from the generated config, Redis and the in-process chain. For the hostile-input tests and
 * `npm run bench:hostile`.
 */
export type HostileScene = {
  ca: FleetCa;
  infra: TestInfra;
  bridge: Bridge;
  attacker: IssuedDevice;
  victim: DeviceAgent;
  /** Bytes the bridge has logged so far. */
  logBytes(): number;
  /** The attacker in its own process, ready to publish (count, size and kind from `job`). */
  flood(job: Partial<FloodJob>): Promise<Flood>;
  stop(): Promise<void>;
};

export async function startHostileScene(
  opts: { rateLimit?: { perSecond: number; burst: number } } = {},
): Promise<HostileScene> {
  const dir = mkdtempSync(join(tmpdir(), "so-hostile-"));
  const ca = await createFleetCa();
  const infra = await startTestInfra(ca);
  const attacker = await enrollDevice(infra.stack, ca, "p256");
  const good = await enrollDevice(infra.stack, ca, "p256");
  const certificates = new FleetCertificates(ca.certPem);
  for (const d of [attacker, good]) certificates.add(d.certPem);
  const store = new RedisStore({ url: infra.redis.url, prefix: "hostile" });
  let logged = 0;
  const counting = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged += chunk.length;
      cb();
    },
  });
  const bridge = await startBridge({
    ...bridgeOn(ca, infra),
    certificates,
    store,
    batchIntervalMs: 60_000,
    ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    log: pino({ level: "info" }, counting),
  });
  const victim = new DeviceAgent({
    deviceName: good.name,
    signer: new SoftwareSigner(good.curve, good.readingSecretKey, { warn: () => {} }),
    domain: { chainId: infra.stack.chainId, registry: infra.stack.contracts.oracle },
    mqtt: { url: infra.broker.url, ca: ca.certPem, cert: good.certPem, key: good.keyPem },
  });
  await victim.start();
  return {
    ca,
    infra,
    bridge,
    attacker,
    victim,
    logBytes: () => logged,
    flood: (job) =>
      prepareFlood(dir, {
        url: infra.broker.url,
        ca: ca.certPem,
        device: { name: attacker.name, cert: attacker.certPem, key: attacker.keyPem },
        count: 1,
        bytes: 64,
        kind: "garbage",
        qos: 0,
        ...job,
      }),
    async stop() {
      await victim.stop();
      await bridge.stop();
      await store.close();
      await Promise.all([infra.broker.stop(), infra.redis.stop(), infra.stack.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Flood from the attacker while the victim publishes every `intervalMs`, measured until the bridge
 * has worked through what the broker forwarded: the victim's ack latencies and the rejections counted.
 */
export async function floodWhileMeasuring(
  scene: HostileScene,
  count: number,
  intervalMs = 50,
): Promise<{ sent: number; latencies: number[]; notQueued: number; rejected: number; logBytes: number }> {
  const rejectedBefore = scene.bridge.metrics.totalRejected();
  const logBefore = scene.logBytes();
  const flood = await scene.flood({ count });
  const sending = flood.go();
  const drained = sending.then(async ({ sent }) => {
    const deadline = Date.now() + 60_000;
    while (scene.bridge.metrics.totalRejected() - rejectedBefore < sent * 0.9 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
  });
  const { latencies, notQueued } = await ackLatencies(
    scene.victim,
    scene.infra.stack.feedId,
    intervalMs,
    drained,
  );
  const { sent } = await sending;
  flood.stop();
  return {
    sent,
    latencies,
    notQueued,
    rejected: scene.bridge.metrics.totalRejected() - rejectedBefore,
    logBytes: scene.logBytes() - logBefore,
  };
}
