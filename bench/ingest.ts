// npm run bench (ingest part): signed readings per second through mTLS Mosquitto, verification
// and the Redis enqueue in one bridge process, per curve, with pre-signed readings published by a
// separate process; beside it the raw single-core verify rate the bridge uses, and their ratio.
import { spawn } from "node:child_process";
import { sign as cryptoSign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { Hex } from "viem";
import { startBridge } from "../bridge/bridge.js";
import { FleetCertificates } from "../bridge/certificates.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import { createFleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import {
  type CurveName,
  encodeReadingMessage,
  normalizeLowS,
  type Reading,
  readingDigest,
  signDigest,
  verifyReadingSignature,
} from "../protocol/index.js";
import { bridgeOn, startTestInfra } from "../testkit/infra.js";
import { registerDevice } from "../testkit/stack.js";
import { envNumber, log } from "./report.js";

// libsecp256k1 signs the secp256k1 readings (about 100 times faster than @noble/curves here);
// the bridge under test checks them with the same library's native binding.
const nativeSecp256k1 = createRequire(import.meta.url)("secp256k1/bindings.js") as {
  ecdsaSign(msg32: Uint8Array, secretKey: Uint8Array): { signature: Uint8Array; recid: number };
};

const DEVICES = envNumber("BENCH_DEVICES", 20);
const PER_DEVICE = envNumber("BENCH_PER_DEVICE", 1000);

export type AcceptedReading = {
  curve: CurveName;
  readings: number;
  perSecond: number;
  verifyPerSecond: number;
};

/** Signed reading payloads for a device, sequences 1..count (P-256 through node:crypto, which is fast). */
export function presign(
  d: IssuedDevice,
  domain: { chainId: number; registry: Hex },
  feedId: Hex,
  count = PER_DEVICE,
): { payloads: string[]; digests: Hex[]; sigs: Uint8Array[] } {
  const payloads: string[] = [];
  const digests: Hex[] = [];
  const sigs: Uint8Array[] = [];
  // P-256: node:crypto signs fast; secp256k1: libsecp256k1 (low-S already), @noble/curves otherwise.
  const p256Key = d.curve === "p256" ? (d.keyPem as string) : undefined;
  const now = BigInt(Math.floor(Date.now() / 1000));
  for (let i = 0; i < count; i++) {
    const r: Reading = {
      deviceId: d.deviceId,
      feedId,
      value: BigInt(400 + (i % 100)),
      timestamp: now,
      sequence: BigInt(i + 1),
    };
    const digest = readingDigest(r, domain);
    const sig = p256Key
      ? normalizeLowS(
          "p256",
          new Uint8Array(
            cryptoSign("sha256", Buffer.from(digest.slice(2), "hex"), {
              key: p256Key,
              dsaEncoding: "ieee-p1363",
            }),
          ),
        )
      : d.curve === "secp256k1"
        ? nativeSecp256k1.ecdsaSign(Buffer.from(digest.slice(2), "hex"), d.readingSecretKey).signature
        : signDigest(d.curve, d.readingSecretKey, digest);
    payloads.push(encodeReadingMessage(r, sig));
    digests.push(digest);
    sigs.push(sig);
  }
  return { payloads, digests, sigs };
}

function verifyRate(d: IssuedDevice, digests: Hex[], sigs: Uint8Array[]): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    const i = n % digests.length;
    verifyReadingSignature({
      curve: d.curve,
      publicKey: d.readingPublicKey,
      digest: digests[i] as Hex,
      signature: sigs[i] as Uint8Array,
    });
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

export async function benchIngest(curve: CurveName): Promise<AcceptedReading> {
  log(`ingest ${curve}: ${DEVICES} devices x ${PER_DEVICE} readings`);
  const dir = mkdtempSync(join(tmpdir(), "so-bench-ingest-"));
  const ca = await createFleetCa();
  const { bridgeCert, redis, broker, stack } = await startTestInfra(ca);
  const domain = { chainId: stack.chainId, registry: stack.contracts.oracle };
  const certificates = new FleetCertificates(ca.certPem);
  const devices: IssuedDevice[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const d = await ca.issueDevice({ curve });
    await registerDevice(stack, d);
    certificates.add(d.certPem);
    devices.push(d);
  }
  log("  pre-signing");
  const signed = devices.map((d) => presign(d, domain, stack.feedId));
  const verifyPerSecond = verifyRate(
    devices[0] as IssuedDevice,
    signed[0]?.digests ?? [],
    signed[0]?.sigs ?? [],
  );
  const jobFile = join(dir, "job.json");
  writeFileSync(
    jobFile,
    JSON.stringify({
      url: broker.url,
      ca: ca.certPem,
      devices: devices.map((d, i) => ({
        name: d.name,
        cert: d.certPem,
        key: d.keyPem,
        payloads: signed[i]?.payloads,
      })),
    }),
  );
  const store = new RedisStore({ url: redis.url, prefix: "bench" });
  const total = DEVICES * PER_DEVICE;
  let first = 0;
  let last = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const bridge = await startBridge({
    ...bridgeOn(ca, { bridgeCert, broker, stack }),
    certificates,
    store,
    batchIntervalMs: 3_600_000, // ingest only
    rateLimit: { perSecond: 1e9, burst: 1e9 },
    // BENCH_VERIFY_WORKERS: how many verify workers (default: the bridge's own choice).
    ...(process.env.BENCH_VERIFY_WORKERS ? { verifyWorkers: Number(process.env.BENCH_VERIFY_WORKERS) } : {}),
    log: pino({ level: "silent" }),
    onAccepted: () => {
      const now = performance.now();
      if (!first) first = now;
      last = now;
      if (bridge.metrics.accepted >= total) done();
    },
  });
  const publisher = spawn(process.execPath, ["--import", "tsx", "bench/publisher.ts", jobFile], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) =>
    publisher.stdout?.on("data", (d) => String(d).includes("ready") && resolve()),
  );
  log("  publishing from a separate process");
  publisher.stdin?.write("go\n");
  const timeout = setTimeout(() => done(), 300_000);
  await finished;
  clearTimeout(timeout);
  const rejected = bridge.metrics.totalRejected();
  const accepted = bridge.metrics.accepted;
  publisher.kill();
  await bridge.stop();
  await store.close();
  await Promise.all([broker.stop(), redis.stop(), stack.close()]);
  rmSync(dir, { recursive: true, force: true });
  if (accepted !== total)
    throw new Error(`only ${accepted} of ${total} readings accepted (${rejected} rejected)`);
  const perSecond = accepted / ((last - first) / 1000);
  log(`  ${accepted} readings, ${perSecond.toFixed(0)}/s ingest, ${verifyPerSecond.toFixed(0)}/s raw verify`);
  return { curve, readings: accepted, perSecond, verifyPerSecond };
}
