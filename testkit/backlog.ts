import mqtt, { type MqttClient } from "mqtt";
import pino from "pino";
import type { Hex } from "viem";
import { startBridge } from "../bridge/bridge.js";
import { FleetCertificates } from "../bridge/certificates.js";
import { RedisStore } from "../bridge/store/redis-store.js";
import { REPLAY_WINDOW, readingId } from "../bridge/store/types.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { SoftwareSigner } from "../device-agent/signer.js";
import { createFleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import {
  acksTopic,
  decodeAck,
  deviceNameToId,
  encodeReadingMessage,
  outboxActionOf,
  type Reading,
  type ReadingDomain,
  readingDigest,
  readingsTopic,
} from "../protocol/index.js";
import { bridgeOn, startTestInfra } from "./infra.js";
import { enrollDevice } from "./stack.js";

export type BacklogParameters = {
  /** Readings the device signs during the outage. */
  readings: number;
  /** Payloads sent a second time (their first ack "lost"); default a tenth of `readings`. */
  duplicates?: number;
  /** How long the bridge was down: the readings' timestamps spread over it (default 300 s). */
  outageSec?: number;
  /** Seed of the send order and of the duplicates (default random; it is in the result). */
  seed?: number;
  /** The bridge's per-device limit (default 5,000/s with a burst of every message sent). */
  rateLimit?: { perSecond: number; burst: number };
  /** A reading not answered within this time is sent again, as the device agent does (default 5 s). */
  ackTimeoutMs?: number;
  /** Give up waiting for the answers after this long (default 120 s). */
  deadlineMs?: number;
  progress?: (m: string) => void;
};

/** An answer as `status` or `status:reason` (`queued`, `rejected:replay`, `unconfirmed:outside_window`...). */
export type Answer = string;

export type BacklogResult = {
  seed: number;
  readings: number;
  duplicates: number;
  /** Messages published: every reading once, the duplicates, and what the device sent again. */
  published: number;
  /** Of those, sent again by the device (no answer within ackTimeoutMs, or after a pause it was asked for). */
  resent: number;
  /** Messages sent when a reading more than the replay window (1024) above theirs had gone out already. */
  belowWindow: number;
  /** Every answer the device got, per sequence, in order of arrival. */
  answers: Map<bigint, Answer[]>;
  /** Readings the device took as delivered (answered queued or replay). */
  delivered: number;
  /** Answers counted by kind. */
  counts: Record<Answer, number>;
  /** Readings answered `queued` exactly once / more than once / never. */
  queuedOnce: number;
  queuedTwice: number;
  neverQueued: number;
  /** From the first message to every reading answered for good (delivered, refused or held) at the device. */
  drainMs: number;
  /** `bridge.flush()` after that: every queued reading committed. */
  commitMs: number;
  /** Per reading: in how many committed batches of the store its id is. */
  committedOnce: number;
  committedTwice: number;
  lost: number;
  /** The BatchCommitted events on-chain: how many, the sum of their counts, and whether their roots are the store's. */
  batches: number;
  onChainCount: number;
  rootsMatch: boolean;
};

/** A small seeded PRNG (mulberry32), so a failing order can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/**
 * What the device did while the bridge was down: signed `count` readings (sequences 1..count),
 * dated across the outage, each as the device agent signs one (device-agent/agent.ts `publish`),
 * and kept the signed payloads.
 */
export async function signBacklog(
  device: IssuedDevice,
  domain: ReadingDomain,
  feedId: Hex,
  count: number,
  outageSec: number,
): Promise<Map<bigint, string>> {
  const signer = new SoftwareSigner(device.curve, device.readingSecretKey, { warn: () => {} });
  const deviceId = deviceNameToId(device.name);
  const from = Math.floor(Date.now() / 1000) - outageSec;
  const payloads = new Map<bigint, string>();
  for (let i = 1; i <= count; i++) {
    const reading: Reading = {
      deviceId,
      feedId,
      value: BigInt(400 + (i % 300)),
      timestamp: BigInt(from + Math.floor(((i - 1) * outageSec) / count)),
      sequence: BigInt(i),
    };
    payloads.set(
      reading.sequence,
      encodeReadingMessage(reading, await signer.sign(readingDigest(reading, domain))),
    );
  }
  return payloads;
}

/**
 * A backlog after an outage, end to end: Redis, Mosquitto (mTLS, the fleet ACL) and the contracts on
 * the in-process chain start; a P-256 device signs `readings` readings while no bridge runs; then a
 * bridge starts (in this process, RedisStore) and the device sends the whole backlog in a random
 * order over one MQTT connection with its certificate (QoS 1), `duplicates` of them twice, and
 * treats each answer as the agent's outbox does (outboxActionOf: delivered on `queued` or `replay`,
 * held on `unconfirmed`; what is not answered within `ackTimeoutMs`, or was answered
 * `rate_limited`/`retry`, goes out again after the pause). Then the bridge
 * commits what it queued, and every reading is accounted for in the store's batches and in the
 * BatchCommitted events on-chain. For test/e2e/backlog.test.ts and `npm run bench:backlog`.
 */
export async function runBacklog(p: BacklogParameters): Promise<BacklogResult> {
  const say = p.progress ?? (() => {});
  const seed = p.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const n = p.readings;
  const dupCount = Math.min(n, p.duplicates ?? Math.floor(n / 10));
  const outageSec = p.outageSec ?? 300;
  const ackTimeoutMs = p.ackTimeoutMs ?? 5_000;

  const ca = await createFleetCa();
  const infra = await startTestInfra(ca);
  const { stack } = infra;
  const stops: (() => Promise<unknown>)[] = [
    () => Promise.all([infra.broker.stop(), infra.redis.stop(), stack.close()]),
  ];
  try {
    const device = await enrollDevice(stack, ca, "p256");
    const domain = { chainId: stack.chainId, registry: stack.contracts.oracle };

    // The outage: no bridge runs while the device signs and keeps its readings.
    say(`  signing ${n} readings during a ${outageSec} s outage (no bridge running)`);
    const payloads = await signBacklog(device, domain, stack.feedId, n, outageSec);

    const order = shuffle(
      [...payloads.keys(), ...shuffle([...payloads.keys()], rand).slice(0, dupCount)],
      rand,
    );
    let highest = 0n;
    let belowWindow = 0;
    for (const seq of order) {
      if (seq + REPLAY_WINDOW <= highest) belowWindow += 1;
      if (seq > highest) highest = seq;
    }

    const certificates = new FleetCertificates(ca.certPem);
    certificates.add(device.certPem);
    const store = new RedisStore({ url: infra.redis.url, prefix: "backlog" });
    stops.unshift(() => store.close());
    const bridge = await startBridge({
      ...bridgeOn(ca, infra),
      certificates,
      store,
      batchIntervalMs: 3_600_000, // committed by flush() once the backlog is in
      rateLimit: p.rateLimit ?? { perSecond: 5_000, burst: order.length },
      log: pino({ level: "silent" }),
    });
    stops.unshift(() => bridge.stop());

    // The device back in touch: one connection with its certificate (the broker binds the client
    // id to its CN), its acks topic subscribed before anything is sent.
    const client: MqttClient = await mqtt.connectAsync(infra.broker.url, {
      protocolVersion: 5,
      ca: ca.certPem,
      cert: device.certPem,
      key: device.keyPem,
      rejectUnauthorized: true,
      reconnectPeriod: 1_000,
    });
    stops.unshift(() => client.endAsync());

    // The device's outbox (docs/PROTOCOL.md, "Acknowledgement"; outboxActionOf): a reading leaves it
    // when answered queued or replay (delivered) or refused for good; it is held, not resent, when
    // answered unconfirmed; rate_limited and retry pause the device, which then sends again.
    const answers = new Map<bigint, Answer[]>();
    const delivered = new Set<bigint>();
    const done = new Set<bigint>();
    const sentAt = new Map<bigint, number>();
    let answered = 0;
    let pausedUntil = 0;
    let onAnswer = () => {};
    client.on("message", (_topic, payload) => {
      const ack = decodeAck(payload);
      if (!ack || ack.sequence === null) return;
      const seq = BigInt(ack.sequence);
      answers.set(seq, [
        ...(answers.get(seq) ?? []),
        ack.status === "queued" ? "queued" : `${ack.status}:${ack.reason}`,
      ]);
      answered += 1;
      const next = outboxActionOf(ack);
      if (next.action === "resend") pausedUntil = Math.max(pausedUntil, Date.now() + next.afterMs);
      else {
        done.add(seq);
        if (next.action === "drop" && next.delivered) delivered.add(seq);
      }
      onAnswer();
    });
    await client.subscribeAsync(acksTopic(device.name), { qos: 1 });

    const topic = readingsTopic(device.name);
    let published = 0;
    let resent = 0;
    const send = async (seq: bigint) => {
      sentAt.set(seq, Date.now());
      published += 1;
      await client.publishAsync(topic, payloads.get(seq) as string, { qos: 1 });
    };

    say(
      `  bridge up: sending ${order.length} messages (${dupCount} duplicates) in a random order, seed ${seed}`,
    );
    const t0 = performance.now();
    const inFlight = 200; // QoS 1 publishes awaiting their PUBACK
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < order.length) {
          const seq = order[next++] as bigint;
          await send(seq);
        }
      }),
    );

    // The device's outbox: what is not settled goes out again after ackTimeoutMs without an answer,
    // or once a pause the bridge asked for is over.
    const deadline = Date.now() + (p.deadlineMs ?? 120_000);
    let lastAnswerAt = Date.now();
    while (done.size < n && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 250);
        onAnswer = () => {
          if (done.size < n) return;
          clearTimeout(t);
          resolve();
        };
      });
      const now = Date.now();
      if (now < pausedUntil) continue;
      for (const seq of payloads.keys()) {
        if (done.has(seq) || now - (sentAt.get(seq) ?? 0) < ackTimeoutMs) continue;
        resent += 1;
        await send(seq);
      }
    }
    const drainMs = performance.now() - t0;
    // The answers to messages still in flight (duplicates, resends): until each message has one,
    // or none came for a second (a rate_limited answer covers several messages).
    onAnswer = () => {
      lastAnswerAt = Date.now();
    };
    while (answered < published && Date.now() - lastAnswerAt < 1_000 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    say(`  ${delivered.size} of ${n} readings delivered in ${(drainMs / 1000).toFixed(1)} s; committing`);

    const t1 = performance.now();
    await bridge.flush();
    const commitMs = performance.now() - t1;

    // Accounting over every reading signed: in exactly one batch, and the batches on-chain hold
    // exactly as many readings (a reading committed twice would show in the sum).
    const ids = [...payloads.keys()].map((seq) => readingId(device.name, seq));
    const roots = await Promise.all(ids.map((id) => store.rootOf(id)));
    const storeRoots = new Set(roots.filter((r): r is Hex => r !== null));
    const perId = new Map<string, number>();
    for (const root of storeRoots)
      for (const id of (await store.getBatch(root))?.ids ?? []) perId.set(id, (perId.get(id) ?? 0) + 1);
    const events = await stack.publicClient.getContractEvents({
      address: stack.contracts.oracle,
      abi: sensorOracleAbi,
      eventName: "BatchCommitted",
      fromBlock: 0n,
    });
    const eventRoots = new Set(events.map((e) => e.args.root));

    const counts: Record<Answer, number> = {};
    let queuedOnce = 0;
    let queuedTwice = 0;
    for (const seq of payloads.keys()) {
      const list = answers.get(seq) ?? [];
      for (const a of list) counts[a] = (counts[a] ?? 0) + 1;
      const q = list.filter((a) => a === "queued").length;
      if (q === 1) queuedOnce += 1;
      else if (q > 1) queuedTwice += 1;
    }
    return {
      seed,
      delivered: delivered.size,
      readings: n,
      duplicates: dupCount,
      published,
      resent,
      belowWindow,
      answers,
      counts,
      queuedOnce,
      queuedTwice,
      neverQueued: n - queuedOnce - queuedTwice,
      drainMs,
      commitMs,
      committedOnce: ids.filter((id) => perId.get(id) === 1).length,
      committedTwice: ids.filter((id) => (perId.get(id) ?? 0) > 1).length,
      lost: ids.filter((id) => !perId.has(id)).length,
      batches: events.length,
      onChainCount: events.reduce((s, e) => s + Number(e.args.count), 0),
      rootsMatch: eventRoots.size === storeRoots.size && [...storeRoots].every((r) => eventRoots.has(r)),
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}
