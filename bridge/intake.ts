import type { MqttClient } from "mqtt";
import type { Logger } from "pino";
import {
  ALL_READINGS,
  acksTopic,
  bridgeSubscription,
  deviceNameFromTopic,
  encodeAck,
  peekSequence,
  ReadingRejectedError,
  rejectionAck,
} from "../protocol/index.js";
import { type AcceptedReading, type CheckParameters, checkAndQueueReading } from "./checks.js";
import { RejectionLog } from "./log/rejection-log.js";
import type { Metrics } from "./metrics.js";
import type { DeviceRateLimiter } from "./rate-limit.js";

export type IntakeParameters = {
  client: MqttClient;
  /** MQTT 5 subscribes through the shared subscription; 4 (MQTT 3.1.1) plainly. */
  protocolVersion: 4 | 5;
  /** The bridges' MQTT 5 share group (a secret name: a device that knows it can join the group). */
  shareGroup?: string;
  ingest: CheckParameters;
  limiter: DeviceRateLimiter;
  metrics: Metrics;
  log: Logger;
  /** Messages processed at once; beyond it the broker is slowed by held PUBACKs. */
  maxInFlight: number;
  /** Called with an accepted reading before its ack is sent (the feed pusher). */
  observe?: (r: AcceptedReading) => void;
  /** Called with an accepted reading after its ack is sent. */
  onAccepted?: (r: AcceptedReading) => void;
  onRejected?: (deviceName: string | null, err: ReadingRejectedError) => void;
};

// QoS 0: a lost ack only makes the device send the reading again, which is answered with a
// "replay" ack that it takes as delivered. Measured: QoS 1 acks cost a PUBACK round per reading.
const ACK_OPTS = { qos: 0 } as const;

/**
 * Take readings from MQTT: subscribe, check and queue each message (checks.ts), answer the device
 * with its acknowledgement (protocol/ack.ts).
 *
 * Durability is end to end: a device keeps each reading until this bridge's "queued" ack (sent
 * only after the Redis write) and sends it again otherwise. So the broker's PUBACK need not
 * wait for Redis: up to maxInFlight messages are processed at once (their Redis scripts
 * pipelined), and beyond that the PUBACK is held back, which makes the broker slow down.
 * Readings of one device may then finish out of order; the store takes late readings it never had.
 */
export async function startIntake(p: IntakeParameters): Promise<void> {
  const { client, metrics, log } = p;
  const rejections = new RejectionLog({ log });
  // An outage of Redis or the RPC endpoint fails every reading: logged like rejections, bounded.
  const processingErrors = new RejectionLog({
    log,
    message: "reading not processed; the device will send it again",
  });

  async function handle(name: string | null, topic: string, payload: Buffer): Promise<void> {
    try {
      if (!name)
        throw new ReadingRejectedError("malformed", "Message on an unexpected topic.", { details: topic });
      const result = await checkAndQueueReading(p.ingest, name, payload);
      metrics.accepted += 1;
      p.observe?.(result);
      client.publish(
        acksTopic(name),
        encodeAck({ v: 1, sequence: result.reading.sequence.toString(), status: "queued" }),
        ACK_OPTS,
      );
      p.onAccepted?.(result);
    } catch (err) {
      if (!(err instanceof ReadingRejectedError)) throw err;
      metrics.reject(err.reason);
      rejections.record(name, err.reason, err.details);
      // The sequence for the answer is peeked within the size limit, never parsed from the whole payload.
      if (name)
        client.publish(acksTopic(name), encodeAck(rejectionAck(err, peekSequence(payload))), ACK_OPTS);
      p.onRejected?.(name, err);
    }
  }

  // A device over its rate is answered without parsing, without an error object and without a
  // promise: a flood from one certificate must cost the bridge as little per message as possible
  // (the others' readings wait behind it at the broker). It gets at most one `rate_limited`
  // answer per RATE_LIMITED_ACK_EVERY_MS, carrying how long to pause: the agent pauses the whole
  // device on it and sends again what was not acknowledged.
  const lastLimitedAck = new Map<string, number>();
  function rateLimited(name: string, payload: Buffer): void {
    metrics.reject("rate_limited");
    rejections.record(name, "rate_limited", undefined);
    const now = performance.now();
    if (now - (lastLimitedAck.get(name) ?? Number.NEGATIVE_INFINITY) < RATE_LIMITED_ACK_EVERY_MS) return;
    if (lastLimitedAck.size > 100_000) lastLimitedAck.clear();
    lastLimitedAck.set(name, now);
    const ack = encodeAck({
      v: 1,
      sequence: peekSequence(payload),
      status: "rejected",
      reason: "rate_limited",
      retryAfterMs: Math.max(RATE_LIMITED_ACK_EVERY_MS, p.limiter.retryAfterMs(name)),
    });
    client.publish(acksTopic(name), ack, ACK_OPTS);
  }

  // mqtt.js's keepalive counts only PINGRESP and acks of the bridge's own packets, and it takes
  // incoming packets one at a time: under a burst the broker's PINGRESP waits behind the PUBLISHes
  // before it (and behind held PUBACKs), and the client dropped the connection ("Keepalive
  // timeout") although the broker was talking all along. A PUBLISH received, or a reading finished
  // while PUBACKs are held, shows the connection and the intake are alive: the keepalive restarts
  // (at most every KEEPALIVE_RESTART_EVERY_MS). A connection silent for the keepalive still gets
  // its PINGREQ, and is dropped without an answer.
  let keepaliveRestarted = 0;
  const alive = () => {
    const now = performance.now();
    if (now - keepaliveRestarted < KEEPALIVE_RESTART_EVERY_MS) return;
    keepaliveRestarted = now;
    client.reschedulePing(true);
  };

  let inFlight = 0;
  const held: (() => void)[] = [];
  client.handleMessage = (packet, done) => {
    alive();
    const name = deviceNameFromTopic(packet.topic);
    if (name !== null && !p.limiter.take(name)) {
      rateLimited(name, toBuffer(packet.payload));
      done();
      return;
    }
    inFlight += 1;
    handle(name, packet.topic, toBuffer(packet.payload))
      .catch((err: unknown) => {
        // Store or chain unreachable: no ack to the device, which will send the reading again.
        metrics.processingErrors += 1;
        const reason = err instanceof Error ? err.name : "error";
        processingErrors.record(name, reason, undefined, Date.now(), { err });
      })
      .finally(() => {
        inFlight -= 1;
        if (held.length > 0) alive();
        held.shift()?.();
      });
    if (inFlight < p.maxInFlight) done();
    else held.push(() => done());
  };
  const topic = p.protocolVersion === 5 ? bridgeSubscription(p.shareGroup) : ALL_READINGS;
  // The broker may be down when the bridge starts: subscribe on the first connection (mqtt.js
  // subscribes again by itself after a reconnect). Resolves once subscribed.
  await new Promise<void>((resolve) => {
    const subscribe = () => {
      client.subscribeAsync(topic, { qos: 1 }).then(
        () => resolve(),
        (err: unknown) => {
          log.warn({ err }, "MQTT subscription failed; will retry on the next connection");
          client.once("connect", subscribe);
        },
      );
    };
    if (client.connected) subscribe();
    else client.once("connect", subscribe);
  });
}

/** The MQTT keepalive is restarted on activity at most this often (a timer reset per message costs). */
export const KEEPALIVE_RESTART_EVERY_MS = 250;

/** At most one `rate_limited` answer per device in this time. */
export const RATE_LIMITED_ACK_EVERY_MS = 250;

const toBuffer = (payload: Buffer | string) => (typeof payload === "string" ? Buffer.from(payload) : payload);
