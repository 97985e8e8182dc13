import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { agentHealthOf } from "../../device-agent/agent-health.js";
import { OutboxFullError, UnknownFeedError } from "../../device-agent/errors.js";
import { type ReadingSigner, SoftwareSigner } from "../../device-agent/signer.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { type AckMessage, encodeAck, feedIdOf } from "../../protocol/index.js";
import { startDeviceAgent } from "../../testkit/agents.js";
import { BRIDGE_CN, startFleetBroker } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";

/** What the scripted bridge answers to the n-th copy (0-based) of a reading it receives. */
type Script = (sequence: string, copy: number, device: string) => AckMessage | null;

/**
 * The agent's publishing against a bridge played by the test: real Mosquitto with mTLS and the
 * fleet ACL, a client with the bridge's certificate that answers each reading as a script says,
 * and records when each copy arrived. Answers a real bridge gives only under conditions hard to
 * stage (a rate limit with a precise wait, a `replay` for a reading it never received).
 */
describe("the agent's publishing (real Mosquitto, a scripted bridge)", () => {
  let ca: FleetCa;
  let broker: Service;
  let bridge: MqttClient;
  let script: Script = () => null;
  const copies = new Map<string, number[]>(); // sequence -> arrival times (ms)
  const agents: DeviceAgent[] = [];
  const domain = { chainId: 31337, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const };
  const feedId = feedIdOf("demo/temperature");

  beforeAll(async () => {
    ca = await createFleetCa();
    broker = await startFleetBroker(ca, BRIDGE_CN);
    const cert = await ca.issueClient({ commonName: BRIDGE_CN });
    bridge = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      ca: ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      rejectUnauthorized: true,
    });
    bridge.on("message", (topic, payload) => {
      const device = topic.split("/")[3] as string;
      const sequence = (JSON.parse(payload.toString()) as { sequence: string }).sequence;
      const key = `${device}/${sequence}`;
      const times = copies.get(key) ?? [];
      times.push(Date.now());
      copies.set(key, times);
      const ack = script(sequence, times.length - 1, device);
      if (ack) bridge.publish(`so/v1/devices/${device}/acks`, encodeAck(ack), { qos: 1 });
    });
    await bridge.subscribeAsync("so/v1/devices/+/readings", { qos: 1 });
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) await a.close().catch(() => {});
    await bridge?.endAsync();
    await broker?.stop();
  });

  const newAgent = async (options: Parameters<typeof startDeviceAgent>[2] = {}) => {
    const d: IssuedDevice = await ca.issueDevice({ curve: "p256" });
    const a = await startDeviceAgent(d, { brokerUrl: broker.url, caPem: ca.certPem, domain }, options);
    agents.push(a);
    return a;
  };

  it("sends a rate-limited reading again only after the wait the bridge gives", async () => {
    const RETRY_AFTER_MS = 1_500;
    // The bridge refuses the first three copies for the rate, each with a 1.5 s wait, then queues it.
    script = (sequence, copy) =>
      copy < 3
        ? { v: 1, sequence, status: "rejected", reason: "rate_limited", retryAfterMs: RETRY_AFTER_MS }
        : { v: 1, sequence, status: "queued" };
    const agent = await newAgent({ ackTimeoutMs: 20_000 });
    const seq = await agent.publish(feedId, 1n);
    expect(await agent.waitForFinalAck(seq, 20_000)).toEqual({ sequence: seq, status: "queued" });
    const times = copies.get(`${agent.deviceName}/${seq}`) ?? [];
    const answers = agent.acks.filter((a) => a.sequence === seq);
    console.log(
      `rate-limited reading: ${times.length} copies, ${answers.length} answers, ` +
        `gaps ${times.slice(1).map((t, i) => t - (times[i] as number))} ms`,
    );
    // Four copies, four answers: not one more than the bridge asked for.
    expect(times).toHaveLength(4);
    expect(answers.map((a) => a.status)).toEqual(["rejected", "rejected", "rejected", "queued"]);
    for (let i = 1; i < times.length; i++)
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(RETRY_AFTER_MS - 50);
    await expect.poll(() => agent.buffered).toBe(0);
  }, 30_000);

  it("keeps and holds a reading answered replay that it never sent before, and raises an alarm", async () => {
    // A bridge answering `replay` to the first copy of each reading: it cannot hold what it never got.
    script = (sequence, copy) =>
      copy === 0
        ? { v: 1, sequence, status: "rejected", reason: "replay" }
        : { v: 1, sequence, status: "queued" };
    const agent = await newAgent();
    const seq = await agent.publish(feedId, 2n);
    expect(await agent.waitForFinalAck(seq)).toMatchObject({ status: "rejected", reason: "replay" });
    await expect.poll(() => agent.outbox.held).toBe(1);
    // Not a delivery: still in the outbox, not sent again on its own, counted and on /healthz.
    expect(agent.outbox.has(seq)).toBe(true);
    expect(agent.buffered).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(copies.get(`${agent.deviceName}/${seq}`)).toHaveLength(1);
    const health = await agentHealthOf(agent);
    expect(health.replayAlarms).toBe(1);
    expect(health.ok).toBe(false);
    expect(health.outbox.held).toBe(1);
    expect(await agent.metrics.text()).toMatch(/^sensor_oracle_agent_replay_alarms_total 1$/m);
  }, 30_000);

  it("takes replay as delivered for a reading it sent before whose first answer never came", async () => {
    // The first copy goes unanswered (its `queued` lost); the copy sent again is answered replay.
    script = (sequence, copy) =>
      copy === 0 ? null : { v: 1, sequence, status: "rejected", reason: "replay" };
    const agent = await newAgent({ ackTimeoutMs: 1_000 });
    const seq = await agent.publish(feedId, 3n);
    expect(await agent.waitForFinalAck(seq, 10_000)).toMatchObject({ status: "rejected", reason: "replay" });
    await expect.poll(() => agent.buffered).toBe(0);
    expect((await agentHealthOf(agent)).replayAlarms).toBe(0);
  }, 30_000);

  it("refuses readings past its quota with a counted OutboxFullError, keeps the stored ones, and says so on /healthz", async () => {
    script = () => null; // the bridge answers nothing: everything stays in the outbox
    const perReading = 420; // a P-256 reading's payload (about 350 bytes) and the row overhead, rounded up
    const agent = await newAgent({
      feeds: ["demo/temperature"],
      outbox: { path: ":memory:", quotaBytes: 10 * perReading },
    });
    const take = (value: bigint) => agent.take({ feed: "demo/temperature", value, takenAt: 1_764_400_000n });
    const stored: bigint[] = [];
    let refusal: unknown;
    for (let i = 0; i < 20 && !refusal; i++)
      await take(BigInt(i)).then(
        (r) => stored.push(r.sequence),
        (err) => {
          refusal = err;
        },
      );
    expect(refusal).toBeInstanceOf(OutboxFullError);
    expect(stored.length).toBeGreaterThanOrEqual(9);
    await expect(take(99n)).rejects.toBeInstanceOf(OutboxFullError);
    await expect(agent.take({ feed: "no/such-feed", value: 1n, takenAt: 1n })).rejects.toBeInstanceOf(
      UnknownFeedError,
    );
    const health = await agentHealthOf(agent);
    expect(health).toMatchObject({ ok: false, outboxFull: true, readings: { refused: 3 } });
    expect(await agent.metrics.text()).toMatch(
      /^sensor_oracle_agent_readings_refused_total\{reason="outbox_full"\} 2$/m,
    );
    // Nothing stored was dropped to make room.
    expect(agent.buffered).toBe(stored.length);
    expect(stored.every((s) => agent.outbox.has(s))).toBe(true);
    await agent.close();
  }, 30_000);

  it("keeps only the last answers, as many as ackHistory says (a daemon does not hoard them)", async () => {
    script = (sequence) => ({ v: 1, sequence, status: "queued" });
    const agent = await newAgent({ ackHistory: 5 });
    const seqs = await Promise.all(Array.from({ length: 12 }, (_, i) => agent.publish(feedId, BigInt(i))));
    await expect.poll(() => agent.buffered, { timeout: 15_000 }).toBe(0);
    await expect.poll(() => agent.acks.length, { timeout: 5_000 }).toBe(5);
    expect(agent.acks.every((a) => a.status === "queued" && seqs.includes(a.sequence))).toBe(true);
    // A waiter set before the answer is told even when nothing is kept.
    const none = await newAgent({ ackHistory: 0 });
    const seq = await none.publish(feedId, 1n);
    expect(await none.waitForFinalAck(seq)).toEqual({ sequence: seq, status: "queued" });
    expect(none.acks).toEqual([]);
  }, 30_000);

  it("publishes every reading when signatures finish out of order (as a token's do), passing none over", async () => {
    script = (sequence) => ({ v: 1, sequence, status: "queued" });
    const d = await ca.issueDevice({ curve: "p256" });
    const soft = new SoftwareSigner(d.curve, d.readingSecretKey, { warn: () => {} });
    // A signer whose answers take 0 to 30 ms each, so readings are committed out of sequence order.
    const slow: ReadingSigner = {
      curve: soft.curve,
      publicKey: soft.publicKey,
      sign: async (digest) => {
        await new Promise((r) => setTimeout(r, Math.random() * 30));
        return soft.sign(digest);
      },
    };
    const agent = await startDeviceAgent(
      d,
      { brokerUrl: broker.url, caPem: ca.certPem, domain },
      { signer: slow },
    );
    agents.push(agent);
    const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => agent.publish(feedId, BigInt(i))));
    await expect.poll(() => agent.buffered, { timeout: 15_000 }).toBe(0);
    expect(seqs.every((s) => copies.has(`${agent.deviceName}/${s}`))).toBe(true);
  }, 30_000);

  it("keeps many readings in flight, never more than its window", async () => {
    let open = 0;
    let most = 0;
    let agent: DeviceAgent | undefined;
    // The bridge answers each reading 200 ms after it arrives.
    script = (sequence, _copy, device) => {
      if (device !== agent?.deviceName) return null; // an earlier test's agent
      open += 1;
      most = Math.max(most, open);
      setTimeout(() => {
        open -= 1;
        bridge.publish(`so/v1/devices/${device}/acks`, encodeAck({ v: 1, sequence, status: "queued" }), {
          qos: 1,
        });
      }, 200);
      return null;
    };
    const a = await newAgent({ maxInFlight: 16 });
    agent = a;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 160 }, (_, i) => a.publish(feedId, BigInt(i))));
    await expect.poll(() => a.buffered, { timeout: 20_000 }).toBe(0);
    const ms = Date.now() - t0;
    console.log(`160 readings with 200 ms answers, window 16: ${ms} ms, at most ${most} in flight`);
    expect(most).toBeGreaterThan(8);
    expect(most).toBeLessThanOrEqual(16);
    expect(ms).toBeLessThan((160 * 200) / 4); // far from one at a time (32 s)
  }, 30_000);
});
