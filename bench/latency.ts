// Latency from signing to the committed batch on-chain, p50 and p99, at a fixed load: a local
// chain mining one block a second, the bridge's batch window one second, real Mosquitto and Redis.
import { FleetCertificates } from "../bridge/certificates.js";
import { readingId } from "../bridge/store/types.js";
import { createFleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../testkit/infra.js";
import { mineEvery } from "../testkit/mining.js";
import { enrollDevice } from "../testkit/stack.js";
import { envNumber, log } from "./report.js";

const DEVICES = envNumber("BENCH_LATENCY_DEVICES", 20);
const RATE = envNumber("BENCH_LATENCY_RATE", 5); // readings per second per device
const SECONDS = envNumber("BENCH_LATENCY_SECONDS", 15);
const BATCH_WINDOW_MS = 1000;
const BLOCK_MS = 1000;

export type LatencyResult = {
  readings: number;
  load: number;
  p50: number;
  p99: number;
  max: number;
  target: number;
};

export async function benchLatency(): Promise<LatencyResult> {
  log(
    `latency: ${DEVICES} devices x ${RATE}/s for ${SECONDS} s, batch window ${BATCH_WINDOW_MS} ms, blocks every ${BLOCK_MS} ms`,
  );
  const ca = await createFleetCa();
  const infra = await startTestInfra(ca);
  const { redis, broker, stack } = infra;
  const certificates = new FleetCertificates(ca.certPem);
  const devices: IssuedDevice[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const d = await enrollDevice(stack, ca, i % 2 ? "secp256k1" : "p256");
    certificates.add(d.certPem);
    devices.push(d);
  }
  await mineEvery(stack.publicClient, BLOCK_MS);
  const signedAt = new Map<string, number>();
  const latencies: number[] = [];
  const { bridge, store } = await startTestBridge(ca, infra, {
    prefix: "latency",
    certificates,
    batchIntervalMs: BATCH_WINDOW_MS,
    rateLimit: { perSecond: 1000, burst: 1000 },
    onCommitted: (b) => {
      const now = performance.now();
      for (const id of b.ids) {
        const t = signedAt.get(id);
        if (t !== undefined) latencies.push(now - t);
      }
    },
  });
  const agents = await Promise.all(devices.map((d) => startDeviceAgent(d, siteOn(ca, broker, stack))));
  const end = performance.now() + SECONDS * 1000;
  let sent = 0;
  await Promise.all(
    agents.map(async (a, i) => {
      const d = devices[i] as IssuedDevice;
      await new Promise((r) => setTimeout(r, (i * 1000) / RATE / DEVICES)); // spread the devices
      while (performance.now() < end) {
        const t = performance.now();
        const s = await a.publish(stack.feedId, 500n);
        signedAt.set(readingId(d.name, s), t);
        sent++;
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 / RATE - (performance.now() - t))));
      }
    }),
  );
  const deadline = performance.now() + 30_000;
  while (latencies.length < sent && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  for (const a of agents) await a.stop();
  await bridge.stop();
  await store.close();
  await Promise.all([broker.stop(), redis.stop(), stack.close()]);
  if (latencies.length < sent) throw new Error(`only ${latencies.length} of ${sent} readings committed`);
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number;
  const result = {
    readings: sent,
    load: DEVICES * RATE,
    p50: q(0.5),
    p99: q(0.99),
    max: latencies.at(-1) as number,
    target: BATCH_WINDOW_MS + 2 * BLOCK_MS,
  };
  log(
    `  ${sent} readings at ${result.load}/s: p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, max ${result.max.toFixed(0)} ms`,
  );
  return result;
}
