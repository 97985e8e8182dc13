// The embedded demo: one command, nothing to install beyond Node 22.
//   npm run demo              runs a fixed number of rounds and ends with a one-line summary
//   npm run demo -- --forever keeps the devices publishing until Ctrl-C
// Set REDIS_URL to queue readings in Redis instead of the (not durable) in-process store.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { Hex } from "viem";
import { SqliteArchive } from "../bridge/archive/sqlite-archive.js";
import { startBridge } from "../bridge/bridge.js";
import { FleetCertificates } from "../bridge/certificates.js";
import { toReading } from "../bridge/checks.js";
import { MemoryStore } from "../bridge/store/memory-store.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import type { ReadingStore } from "../bridge/store/types.js";
import { coldChainMonitorAbi, sensorOracleAbi } from "../chain/abi.js";
import type { DeviceAgent } from "../device-agent/agent.js";
import { createFleetCa } from "../pki/fleet-ca.js";
import { type CurveName, readingsTopic } from "../protocol/index.js";
import { siteOn, startDeviceAgent } from "./agents.js";
import { startEmbeddedBroker } from "./embedded-broker.js";
import { BRIDGE_CN } from "./infra.js";
import { deployStack, enrollDevice } from "./stack.js";

const forever = process.argv.includes("--forever");
const rounds = Number(process.env.DEMO_ROUNDS ?? 4);
const started = Date.now();
const short = (s: string) => `${s.slice(0, 8)}…`;
const say = (step: string, msg: string) => console.log(`${step.padEnd(9)} ${msg}`);
const celsius = (v: bigint) => `${(Number(v) / 100).toFixed(2)} °C`;

async function main(): Promise<string> {
  say(
    "[1/6]",
    "deploying SensorOracle (device registry and reading batches) and ColdChainMonitor on an in-process Hardhat chain",
  );
  const stack = await deployStack({ maxValue: 800n });
  say("", `SensorOracle ${stack.contracts.oracle}  chain ${stack.chainId}`);

  say("[2/6]", "creating a fleet CA and starting the embedded mTLS MQTT broker (aedes)");
  const ca = await createFleetCa();
  const server = await ca.issueServer({ commonName: "localhost" });
  const bridgeCert = await ca.issueClient({ commonName: BRIDGE_CN });
  const broker = await startEmbeddedBroker({
    caPem: ca.certPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    bridgeUser: BRIDGE_CN,
  });
  say("", `broker on ${broker.url} (client certificates required)`);

  say("[3/6]", "enrolling 3 devices: certificate from the fleet CA, key registered on-chain");
  const curves: CurveName[] = ["p256", "secp256k1", "p256"];
  const devices = [];
  for (const curve of curves) {
    const d = await enrollDevice(stack, ca, curve);
    devices.push(d);
    say("", `device ${short(d.name)} ${curve.padEnd(9)} enrolled (software key: development only)`);
  }

  let store: ReadingStore;
  // With Redis, committed batches go to an embedded SQLite archive, as a single bridge's would.
  const archiveDir = process.env.REDIS_URL ? mkdtempSync(join(tmpdir(), "so-demo-archive-")) : null;
  if (process.env.REDIS_URL) {
    store = new RedisStore({ url: process.env.REDIS_URL, prefix: `so-demo-${Date.now()}` });
    say("[4/6]", `starting the bridge; readings queue durably in Redis at ${process.env.REDIS_URL}`);
  } else {
    store = new MemoryStore();
    say("[4/6]", "starting the bridge; REDIS_URL is not set, so readings queue in memory: NOT DURABLE");
  }
  const certificates = new FleetCertificates(ca.certPem);
  for (const d of devices) certificates.add(d.certPem);
  const nameOf = new Map(devices.map((d) => [d.name, d]));
  let committedReadings = 0;
  let batches = 0;
  const bridge = await startBridge({
    mqtt: {
      url: broker.url,
      ca: ca.certPem,
      cert: bridgeCert.certPem,
      key: bridgeCert.keyPem,
      protocolVersion: 4,
    },
    certificates,
    store,
    ...(archiveDir ? { archive: { archive: new SqliteArchive(join(archiveDir, "archive.sqlite")) } } : {}),
    publicClient: stack.publicClient,
    walletClient: stack.submitter,
    contracts: stack.contracts,
    chainId: stack.chainId,
    batchIntervalMs: 1500,
    http: { port: Number(process.env.DEMO_HTTP_PORT ?? 0) },
    log: pino({ level: "silent" }),
    onAccepted: ({ id, reading }) => {
      const d = nameOf.get(id.split(":")[0] as string);
      say(
        "accepted",
        `device ${short(id)} ${d?.curve.padEnd(9)} seq ${reading.sequence} ${celsius(reading.value)}`,
      );
    },
    onRejected: (name, err) =>
      say("REJECTED", `device ${short(name ?? "?")} ${err.reason}: ${err.shortMessage}`),
    onCommitted: (b) => {
      batches += 1;
      committedReadings += b.ids.length;
      say(
        "batch",
        `committed ${b.ids.length} readings, root ${short(b.root)} tx ${short(b.txHash)} gas ${b.gasUsed}`,
      );
    },
  });
  const address = bridge.app.server.address() as { port: number };
  const api = `http://127.0.0.1:${address.port}`;
  say("", `bridge HTTP API on ${api} (/readings/:id, /metrics)`);

  say(
    "[5/6]",
    forever ? "devices publishing every second until Ctrl-C" : `devices publishing ${rounds} rounds`,
  );
  const site = { ...siteOn(ca, broker, stack), protocolVersion: 4 } as const;
  const agents = await Promise.all(devices.map((d) => startDeviceAgent(d, site)));
  let stop = false;
  process.once("SIGINT", () => {
    stop = true;
  });
  const temps = devices.map(() => 400 + Math.floor(Math.random() * 200));
  let published = 0;
  for (let round = 0; !stop && (forever || round < rounds); round++) {
    await Promise.all(
      agents.map(async (a, i) => {
        temps[i] = (temps[i] as number) + Math.floor(Math.random() * 120) - 50;
        const seq = await a.publish(stack.feedId, BigInt(temps[i] as number));
        await a.waitForAck(seq);
        published++;
      }),
    );
    if (round === 1) {
      // A tampered copy of a signed reading: the bridge refuses it and counts it.
      const d = devices[0];
      if (d) {
        const first = await fetch(`${api}/readings/${d.name}:1`).then(
          (r) => r.json() as Promise<{ signature: Hex }>,
        );
        await (agents[0] as DeviceAgent).publishRaw(
          readingsTopic(d.name),
          JSON.stringify({
            v: 1,
            feedId: stack.feedId,
            value: "-500",
            timestamp: Math.floor(Date.now() / 1000),
            sequence: "1000",
            // The wire form: r||s (the served on-chain form appends the key or a recovery byte).
            signature: first.signature.slice(0, 2 + 128),
          }),
        );
      }
    }
    await new Promise((r) => setTimeout(r, forever ? 1000 : 400));
  }
  await new Promise((r) => setTimeout(r, 200));
  await bridge.flush();

  say("[6/6]", "a consumer contract verifies one reading on-chain with the proof the bridge serves");
  const k1 = devices[1];
  if (!k1) throw new Error("no secp256k1 device");
  const served = (await fetch(`${api}/readings/${k1.name}:1`).then((r) => r.json())) as {
    reading: { deviceId: Hex; feedId: Hex; value: string; timestamp: string; sequence: string };
    signature: Hex;
    proof: Hex[];
    batch: { root: Hex };
  };
  const reading = toReading(served.reading);
  const root = await stack.publicClient.readContract({
    address: stack.contracts.oracle,
    abi: sensorOracleAbi,
    functionName: "verifyReading",
    args: [reading, served.signature, served.proof],
  });
  const hash = await stack.admin.writeContract({
    address: stack.contracts.consumer,
    abi: coldChainMonitorAbi,
    functionName: "submit",
    args: [reading, served.signature, served.proof],
    chain: stack.admin.chain,
    account: stack.admin.account,
  });
  const receipt = await stack.publicClient.waitForTransactionReceipt({ hash });
  say(
    "verified",
    `ColdChainMonitor took reading ${short(k1.name)}:1 (${celsius(reading.value)}, secp256k1) from batch ${short(root)}; tx ${short(hash)} gas ${receipt.gasUsed}`,
  );

  const rejected = bridge.metrics.totalRejected();
  const accepted = bridge.metrics.accepted;
  for (const a of agents) await a.stop();
  await bridge.stop();
  await store.close();
  if (archiveDir) rmSync(archiveDir, { recursive: true, force: true });
  await broker.close();
  await stack.close();
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  return `demo done: ${published} published, ${accepted} accepted, ${rejected} rejected, ${committedReadings} committed in ${batches} batches, 1 verified on-chain by a consumer contract, in ${secs} s${store.durable ? "" : " (in-memory store)"}`;
}

main().then(
  (summary) => {
    console.log(summary);
    process.exit(0);
  },
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
