import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { type Hex, hexToBytes } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { toReading } from "../../bridge/checks.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { coldChainMonitorAbi, sensorOracleAbi } from "../../chain/abi.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { SoftwareSigner } from "../../device-agent/signer.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { encodeReadingMessage, readingsTopic } from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

const quiet = { warn: () => {} };

type ReadingResponse = {
  id: string;
  status: "queued" | "committed";
  reading: { deviceId: Hex; feedId: Hex; value: string; timestamp: string; sequence: string };
  signature: Hex;
  batch?: { root: Hex; txHash: Hex };
  proof?: Hex[];
};

describe("a reading from device key to on-chain verification (Mosquitto mTLS, Redis, Hardhat)", () => {
  let ca: FleetCa;
  let otherCa: FleetCa;
  let redis: Service;
  let broker: Service;
  let stack: Stack;
  let bridge: Bridge;
  let store: RedisStore;
  let certificates: FleetCertificates;
  const agents: DeviceAgent[] = [];
  let seqDir: string;
  const devices: Record<"p256" | "k1" | "unregistered", IssuedDevice> = {} as never;

  // Each device keeps its sequence in a file, as a real device does across restarts.
  const agentFor = async (
    d: IssuedDevice,
    opts: { signer?: SoftwareSigner; forgetSequence?: boolean; maxInFlight?: number } = {},
  ) => {
    // One connection per device certificate: the broker makes the CN the client id, so a second
    // agent of the same device would take the first one's session. Stop the earlier one first.
    for (const earlier of agents.filter((x) => x.deviceName === d.name)) await earlier.stop();
    const a = await startDeviceAgent(d, siteOn(ca, broker, stack), {
      ...(opts.signer ? { signer: opts.signer } : {}),
      ...(opts.forgetSequence ? {} : { sequenceFile: join(seqDir, d.name) }),
      ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
    });
    agents.push(a);
    return a;
  };

  // One attempt to connect to the broker with this client certificate (or none).
  const connectOnce = (client: { cert?: string; key?: string }) =>
    mqtt.connectAsync(broker.url, {
      ca: ca.certPem,
      ...client,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });

  // verifyReading on-chain with a served reading's signature and proof (for the served reading, or
  // another in its place): its batch root.
  const verifyOnChain = (r: ReadingResponse, reading = toReading(r.reading)) =>
    stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "verifyReading",
      args: [reading, r.signature, r.proof as Hex[]],
    });

  const getReading = async (id: string): Promise<ReadingResponse> => {
    const res = await bridge.app.inject({ method: "GET", url: `/readings/${id}` });
    expect(res.statusCode).toBe(200);
    return res.json() as ReadingResponse;
  };

  beforeAll(async () => {
    seqDir = mkdtempSync(join(tmpdir(), "so-e2e-seq-"));
    ca = await createFleetCa();
    otherCa = await createFleetCa({ commonName: "some other CA" });
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    devices.p256 = await enrollDevice(stack, ca, "p256");
    devices.k1 = await enrollDevice(stack, ca, "secp256k1");
    devices.unregistered = await enrollDevice(stack, ca, "p256", { register: false });
    certificates = new FleetCertificates(ca.certPem);
    for (const d of Object.values(devices)) certificates.add(d.certPem);
    // Batches every 60 s: the tests flush explicitly.
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "e2e",
      certificates,
      rateLimit: { perSecond: 20, burst: 20 },
    }));
  });

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
    rmSync(seqDir, { recursive: true, force: true });
  });

  it("commits readings from a P-256 and a secp256k1 device in one batch that verifies on-chain with the served proof", async () => {
    const a = await agentFor(devices.p256);
    const b = await agentFor(devices.k1);
    const seqs = [
      [a, await a.publish(stack.feedId, 512n)],
      [b, await b.publish(stack.feedId, 1020n)],
      [a, await a.publish(stack.feedId, 530n)],
      [b, await b.publish(stack.feedId, 499n)],
    ] as const;
    for (const [agent, seq] of seqs)
      expect(await agent.waitForAck(seq)).toEqual({ sequence: seq, status: "queued" });
    await bridge.flush();

    const served = await Promise.all([
      getReading(`${devices.p256.name}:1`),
      getReading(`${devices.k1.name}:1`),
      getReading(`${devices.p256.name}:2`),
      getReading(`${devices.k1.name}:2`),
    ]);
    const roots = new Set(served.map((r) => r.batch?.root));
    expect(roots.size).toBe(1);
    for (const r of served) {
      expect(r.status).toBe("committed");
      const root = await verifyOnChain(r);
      expect(root).toBe(r.batch?.root);
    }
    expect(hexToBytes(served[1]?.signature as Hex).length).toBe(65); // secp256k1 on-chain form r||s||v
    // P-256 on-chain form r||s||x||y: the device's key rides along, checked against its key hash.
    const p256Sig = hexToBytes(served[0]?.signature as Hex);
    expect(p256Sig.length).toBe(128);
    expect(p256Sig.subarray(64)).toEqual(devices.p256.readingPublicKey.subarray(1));
    expect(bridge.metrics.readingsCommitted).toBe(4);
  });

  it("lets a consumer contract act on a verified reading only", async () => {
    const r = await getReading(`${devices.k1.name}:1`);
    const forged = { ...toReading(r.reading), value: 20n };
    await expect(
      stack.publicClient.simulateContract({
        address: stack.contracts.consumer,
        abi: coldChainMonitorAbi,
        functionName: "submit",
        args: [forged, r.signature, r.proof as Hex[]],
        account: stack.admin.account,
      }),
    ).rejects.toThrow(/ReadingBatchesUnknownBatch|reverted/);
    const hash = await stack.admin.writeContract({
      address: stack.contracts.consumer,
      abi: coldChainMonitorAbi,
      functionName: "submit",
      args: [toReading(r.reading), r.signature, r.proof as Hex[]],
      chain: stack.admin.chain,
      account: stack.admin.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
    const [lastValue, , excursions] = await stack.publicClient.readContract({
      address: stack.contracts.consumer,
      abi: coldChainMonitorAbi,
      functionName: "state",
    });
    expect(lastValue).toBe(1020n);
    expect(excursions).toBe(1n); // 1020 is above the monitor's 800 limit
  });

  it("fails verifyReading on-chain for a reading whose value was changed after signing", async () => {
    const r = await getReading(`${devices.p256.name}:1`);
    const changed = { ...toReading(r.reading), value: BigInt(r.reading.value) + 1n };
    await expect(verifyOnChain(r, changed)).rejects.toThrow(/ReadingBatchesUnknownBatch/);
    const ok = await stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "tryVerifyReading",
      args: [changed, r.signature, r.proof as Hex[]],
    });
    expect(ok).toBe(false);
  });

  it("refuses a client with no certificate at the broker", async () => {
    await expect(connectOnce({})).rejects.toMatchObject({
      code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    });
  });

  it("refuses a certificate from another CA at the broker", async () => {
    const stranger = await otherCa.issueDevice({ curve: "p256" });
    await expect(connectOnce({ cert: stranger.certPem, key: stranger.keyPem })).rejects.toMatchObject({
      code: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    });
  });

  it("rejects a reading signed by a key other than the certificate's", async () => {
    const before = bridge.metrics.rejected.bad_signature;
    const imposterKey = (await ca.issueDevice({ curve: "p256" })).readingSecretKey;
    const agent = await agentFor(devices.p256, { signer: new SoftwareSigner("p256", imposterKey, quiet) });
    const seq = await agent.publish(stack.feedId, 1n);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "rejected", reason: "bad_signature" });
    expect(bridge.metrics.rejected.bad_signature).toBeGreaterThan(before);
    await agent.stop();
  });

  it("answers a reused sequence with sequence_conflict, and only a reading it holds with replay", async () => {
    // A device that lost its counter starts at 0 again: its first reading reuses an accepted
    // sequence with other content. Not delivered, so not "replay" (which a device takes as delivered).
    const agent = await agentFor(devices.k1, { forgetSequence: true });
    const seq = await agent.publish(stack.feedId, 600n);
    expect(seq).toBe(1n);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "rejected", reason: "sequence_conflict" });
    // The very reading the bridge holds, sent again (its ack was lost): a replay, delivered.
    const again = await agentFor(devices.k1, { forgetSequence: true });
    const held = await getReading(`${devices.k1.name}:1`);
    await again.publishRaw(
      readingsTopic(devices.k1.name),
      encodeReadingMessage(toReading(held.reading), hexToBytes(held.signature).slice(0, 64)),
    );
    expect(await again.waitForAck(1n)).toMatchObject({ status: "rejected", reason: "replay" });
    expect(bridge.metrics.rejected.replay).toBeGreaterThanOrEqual(1);
    expect(bridge.metrics.rejected.sequence_conflict).toBeGreaterThanOrEqual(1);
  });

  it("rejects a device that is not registered on-chain", async () => {
    const agent = await agentFor(devices.unregistered);
    const seq = await agent.publish(stack.feedId, 500n);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "rejected", reason: "unknown_device" });
    expect(bridge.metrics.rejected.unknown_device).toBe(1);
  });

  it("does not deliver a reading a device publishes on another device's topic", async () => {
    const intruder = await agentFor(devices.unregistered);
    const acceptedBefore = bridge.metrics.accepted;
    const rejectedBefore = bridge.metrics.totalRejected();
    const victimTopic = readingsTopic(devices.p256.name);
    const result = await intruder
      .publishRaw(victimTopic, JSON.stringify({ v: 1 }))
      .then(() => "published")
      .catch((err: { code?: number }) => `refused:${err.code}`);
    // Mosquitto answers an MQTT 5 publish that the ACL denies with reason code 135 (not authorized).
    expect(result).toBe("refused:135");
    await new Promise((r) => setTimeout(r, 500));
    expect(bridge.metrics.accepted).toBe(acceptedBefore);
    expect(bridge.metrics.totalRejected()).toBe(rejectedBefore);
  });

  it("counts a malformed payload and keeps accepting readings", async () => {
    const agent = await agentFor(devices.p256);
    const before = bridge.metrics.rejected.malformed;
    await agent.publishRaw(readingsTopic(devices.p256.name), "{not json");
    await agent.publishRaw(
      readingsTopic(devices.p256.name),
      JSON.stringify({ v: 1, feedId: "0x12", value: "1" }),
    );
    await expect.poll(() => bridge.metrics.rejected.malformed).toBe(before + 2);
    // The bridge is still running: a good reading from the same device is accepted.
    const seq = await agent.publish(stack.feedId, 1n);
    expect(await agent.waitForAck(seq)).toEqual({ sequence: seq, status: "queued" });
  });

  it("sends a backlog as a window that moves with the acks, not as one burst the rate limit refuses", async () => {
    const a = await agentFor(devices.k1);
    await a.stop(); // readings taken while the device is offline wait in its buffer
    const seqs: bigint[] = [];
    for (let i = 0; i < 100; i++) seqs.push(await a.publish(stack.feedId, BigInt(700 + i)));
    const seenBefore = bridge.metrics.accepted + bridge.metrics.totalRejected();
    await a.start();
    await expect.poll(() => a.buffered, { timeout: 60_000, interval: 250 }).toBe(0);
    const queued = new Set(a.acks.filter((x) => x.status === "queued").map((x) => x.sequence));
    expect(seqs.filter((seq) => !queued.has(seq))).toEqual([]);
    // Sent all at once, 80 of the 100 would be refused for the rate (20/s, bursts of 20) and sent
    // again (about 300 messages in all); in a window that halves on each refusal, few are.
    const seen = bridge.metrics.accepted + bridge.metrics.totalRejected() - seenBefore;
    console.log(`backlog of 100: ${seen} messages seen by the bridge`);
    expect(seen).toBeLessThan(200);
  });

  it("rate-limits a flooding device without starving the others", async () => {
    // A device that sends its 300 readings all at once (its window as large as its flood).
    const flooder = await agentFor(devices.p256, { maxInFlight: 300 });
    const other = await agentFor(devices.k1);
    const limitedBefore = bridge.metrics.rejected.rate_limited;
    const flood = Array.from({ length: 300 }, () => flooder.publish(stack.feedId, 7n));
    const mine = [await other.publish(stack.feedId, 650n), await other.publish(stack.feedId, 651n)];
    await Promise.all(flood);
    const started = Date.now();
    for (const seq of mine)
      expect(await other.waitForAck(seq, 5_000)).toEqual({ sequence: seq, status: "queued" });
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect
      .poll(() => bridge.metrics.rejected.rate_limited, { timeout: 10_000 })
      .toBeGreaterThan(limitedBefore + 200);
    // The flooder keeps what was refused for its rate and sends it again later: nothing is dropped.
    expect(flooder.buffered).toBeGreaterThan(0);
    expect(flooder.dropped).toBe(0);
    // It is told to pause (rate_limited with retryAfterMs) at most every 250 ms, not once per
    // refused message, and it pauses: it is not answered again and again for the same readings.
    const elapsed = Date.now() - started + 1_000;
    await new Promise((r) => setTimeout(r, 2_000));
    const limitedAnswers = flooder.acks.filter((a) => "reason" in a && a.reason === "rate_limited");
    expect(limitedAnswers.length).toBeGreaterThan(0);
    expect(limitedAnswers.length).toBeLessThanOrEqual(Math.ceil((elapsed + 2_000) / 250) + 1);
    await expect.poll(() => flooder.buffered, { timeout: 60_000, interval: 500 }).toBe(0);
  });

  it("serves a feed's latest committed reading with its proof, device status, readiness and metrics", async () => {
    const agent = await agentFor(devices.k1);
    const signedAt = BigInt(Math.floor(Date.now() / 1000) + 2);
    const seq = await agent.publish(stack.feedId, 777n, signedAt);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "queued" });
    await bridge.flush();
    const latest = (
      await bridge.app.inject({ method: "GET", url: `/feeds/${stack.feedId}/latest` })
    ).json() as ReadingResponse;
    expect(latest.status).toBe("committed");
    expect(latest.reading.value).toBe("777");
    const root = await verifyOnChain(latest);
    expect(root).toBe(latest.batch?.root);

    const dev = (await bridge.app.inject({ method: "GET", url: `/devices/${devices.k1.name}` })).json();
    expect(dev.registry.status).toBe("active");
    expect(dev.certificate.curve).toBe("secp256k1");
    expect(dev.lastSequence).toBe(seq.toString());
    expect(dev.lastReading).toEqual({ sequence: seq.toString(), timestamp: signedAt.toString() });
    expect((await bridge.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    const metrics = (await bridge.app.inject({ method: "GET", url: "/metrics" })).body;
    expect(metrics).toMatch(/sensor_oracle_readings_rejected_total\{reason="replay"\} [1-9]/);
    expect(metrics).toMatch(/sensor_oracle_batch_size_count [1-9]/);
    expect(metrics).toMatch(/sensor_oracle_verify_seconds_count [1-9]/);
    expect(metrics).toMatch(/sensor_oracle_commit_latency_seconds_count [1-9]/);
  });

  it("commits a batch again when a reorg drops its transaction, with the same root and proof", async () => {
    const agent = await agentFor(devices.p256);
    const snapshot = (await stack.publicClient.request({ method: "evm_snapshot" as never })) as Hex;
    const seq = await agent.publish(stack.feedId, 555n);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "queued" });
    await bridge.flush();
    const served = await getReading(`${devices.p256.name}:${seq}`);
    const root = served.batch?.root as Hex;
    const committedAt = () =>
      stack.publicClient
        .readContract({
          address: stack.contracts.oracle,
          abi: sensorOracleAbi,
          functionName: "getBatch",
          args: [root],
        })
        .then((b) => b.committedAt);
    expect(await committedAt()).toBeGreaterThan(0n);

    // The block holding the commit is dropped (a reorg): the root is no longer on-chain.
    await stack.publicClient.request({ method: "evm_revert" as never, params: [snapshot] as never });
    expect(await committedAt()).toBe(0n);
    const before = bridge.metrics.recommits;
    await bridge.flush();
    expect(bridge.metrics.recommits).toBe(before + 1);
    expect(await committedAt()).toBeGreaterThan(0n);
    const again = await getReading(`${devices.p256.name}:${seq}`);
    expect(again.batch?.root).toBe(root);
    const verified = await stack.publicClient.readContract({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "verifyReading",
      args: [toReading(again.reading), again.signature, again.proof as Hex[]],
    });
    expect(verified).toBe(root);
  });
});
