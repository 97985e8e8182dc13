import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { SecureContext } from "node:tls";
import mqtt, { type MqttClient } from "mqtt";
import type { Hex } from "viem";
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
  UINT64_MAX,
} from "../protocol/index.js";
import type { ReadingSigner } from "./signer.js";

export type DeviceAgentParameters = {
  deviceName: string;
  signer: ReadingSigner;
  domain: ReadingDomain;
  /** TLS identity: PEM files (software key, development), or a context whose key is in a token (tls.ts). */
  mqtt: { url: string; protocolVersion?: 4 | 5 } & (
    | { ca: string; cert: string; key: string }
    | { secureContext: SecureContext }
  );
  /** File holding the last sequence used, so it survives restarts. In memory when absent. */
  sequenceFile?: string;
  /** Readings kept unacknowledged at most; the oldest is dropped (and counted) beyond it. */
  maxBuffered?: number;
  /** A reading not acknowledged within this time is sent again (the bridge may have been down). */
  ackTimeoutMs?: number;
  /**
   * Readings sent and not yet answered, at most (default 32): a backlog goes out as a window that
   * moves with the acks, never as one burst that the bridge's rate limit would mostly refuse.
   */
  maxInFlight?: number;
};

export type AckOutcome =
  | { sequence: bigint; status: "queued" }
  | { sequence: bigint; status: "rejected" | "retry" | "unconfirmed"; reason: string };

/**
 * A device: signs readings, publishes them over mTLS MQTT (QoS 1), keeps each one until the
 * bridge acknowledges it as durably queued, and publishes what it kept again after a reconnect.
 */
export class DeviceAgent {
  private client: MqttClient | undefined;
  private sequence: bigint;
  private readonly buffer = new Map<bigint, string>();
  private readonly sentAt = new Map<bigint, number>();
  /** Sent and awaiting an answer (at most `window`). */
  private readonly inFlight = new Set<bigint>();
  /**
   * The window now: halved when the bridge asks for a pause, grown by one with each reading it
   * queues, up to maxInFlight (additive increase, multiplicative decrease: the device settles near
   * the rate the bridge allows it).
   */
  private window: number;
  private readonly maxWindow: number;
  private readonly ackTimeoutMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Map<bigint, (o: AckOutcome) => void>();
  readonly acks: AckOutcome[] = [];
  /** Readings answered `unconfirmed` (below the bridge's replay window): kept, not resent, for an operator. */
  readonly held = new Set<bigint>();
  dropped = 0;

  constructor(private p: DeviceAgentParameters) {
    this.maxWindow = p.maxInFlight ?? 32;
    this.window = this.maxWindow;
    this.ackTimeoutMs = p.ackTimeoutMs ?? 5_000;
    this.sequence =
      p.sequenceFile && existsSync(p.sequenceFile) ? BigInt(readFileSync(p.sequenceFile, "utf8").trim()) : 0n;
  }

  get deviceName(): string {
    return this.p.deviceName;
  }

  get buffered(): number {
    return this.buffer.size;
  }

  async start(): Promise<void> {
    if (this.retryTimer) clearInterval(this.retryTimer);
    const { url, protocolVersion = 5 } = this.p.mqtt;
    const identity =
      "secureContext" in this.p.mqtt
        ? { secureContext: this.p.mqtt.secureContext }
        : { ca: this.p.mqtt.ca, cert: this.p.mqtt.cert, key: this.p.mqtt.key };
    this.client = await mqtt.connectAsync(url, {
      protocolVersion,
      ...identity,
      // Clean sessions with our own buffer. The fleet broker replaces the id with the certificate's
      // CN (use_username_as_clientid): one connection per device, a second one takes the session.
      clientId: `device-${this.p.deviceName.slice(0, 16)}-${randomBytes(4).toString("hex")}`,
      rejectUnauthorized: true,
      reconnectPeriod: 1000,
    });
    this.client.on("message", (_topic, payload) => this.onAck(payload));
    this.client.on("connect", () => this.sendDue(0));
    this.retryTimer = setInterval(
      () => this.sendDue(this.ackTimeoutMs),
      Math.max(250, this.ackTimeoutMs / 4),
    );
    this.retryTimer.unref();
    await this.client.subscribeAsync(acksTopic(this.p.deviceName), { qos: 1 });
    if (this.buffer.size > 0) this.sendDue(0); // kept from before (a restart of the client, a rotation)
  }

  /** Sign and publish one reading; resolves with its sequence once handed to the MQTT client. */
  async publish(
    feedId: Hex,
    value: bigint,
    timestamp = BigInt(Math.floor(Date.now() / 1000)),
  ): Promise<bigint> {
    if (this.sequence >= UINT64_MAX) throw new RangeError("sequence space exhausted");
    const sequence = this.sequence + 1n;
    this.persistSequence(sequence);
    this.sequence = sequence;
    const reading: Reading = {
      deviceId: deviceNameToId(this.p.deviceName),
      feedId,
      value,
      timestamp,
      sequence,
    };
    const signature = await this.p.signer.sign(readingDigest(reading, this.p.domain));
    const payload = encodeReadingMessage(reading, signature);
    this.buffer.set(sequence, payload);
    const max = this.p.maxBuffered ?? 10_000;
    while (this.buffer.size > max) {
      const oldest = this.buffer.keys().next().value as bigint;
      this.forget(oldest);
      this.dropped += 1;
    }
    // Sent now if the window has room and the bridge has not asked for a pause; else it waits.
    this.trySend(sequence, payload);
    return sequence;
  }

  /**
   * Switch to a rotated key: readings from now on are signed with `signer`. With a new TLS
   * identity the agent reconnects; what it buffered (signed with the old key before the rotation
   * time, so still valid) is sent again on the new connection. Nothing is dropped.
   */
  async rotate(p: { signer: ReadingSigner; secureContext?: SecureContext }): Promise<void> {
    this.p.signer = p.signer;
    if (p.secureContext) {
      await this.client?.endAsync();
      this.p.mqtt = {
        url: this.p.mqtt.url,
        secureContext: p.secureContext,
        ...(this.p.mqtt.protocolVersion ? { protocolVersion: this.p.mqtt.protocolVersion } : {}),
      };
      await this.start();
    }
  }

  /** Publish a raw payload on a topic (tests use it to play misbehaving devices). */
  async publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    await this.client?.publishAsync(topic, payload, { qos: 1 });
  }

  /** Wait for the bridge's acknowledgement of a sequence. */
  waitForAck(sequence: bigint, timeoutMs = 15_000): Promise<AckOutcome> {
    const seen = this.acks.find((a) => a.sequence === sequence);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(sequence);
        reject(new Error(`no ack for sequence ${sequence} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(sequence, (o) => {
        clearTimeout(t);
        resolve(o);
      });
    });
  }

  async stop(): Promise<void> {
    if (this.resendTimer) clearTimeout(this.resendTimer);
    if (this.retryTimer) clearInterval(this.retryTimer);
    await this.client?.endAsync();
  }

  private onAck(payload: Buffer): void {
    const ack = decodeAck(payload);
    if (!ack || ack.sequence === null) return;
    const sequence = BigInt(ack.sequence);
    const outcome: AckOutcome =
      ack.status === "queued"
        ? { sequence, status: "queued" }
        : { sequence, status: ack.status, reason: ack.reason };
    // docs/PROTOCOL.md, "Acknowledgement": what the answer means for the outbox.
    const next = outboxActionOf(ack);
    this.inFlight.delete(sequence);
    if (next.action === "resend") {
      this.window = Math.max(1, Math.floor(this.window / 2));
      this.scheduleResend(next.afterMs);
    } else if (next.action === "hold") {
      this.held.add(sequence);
    } else {
      if (ack.status === "queued") this.window = Math.min(this.maxWindow, this.window + 1);
      this.forget(sequence);
    }
    this.acks.push(outcome);
    if (this.acks.length > 10_000) this.acks.shift();
    this.waiters.get(sequence)?.(outcome);
    this.waiters.delete(sequence);
    // An answer frees a place in the window: send the next reading that waits.
    this.sendDue(this.ackTimeoutMs);
  }

  private forget(sequence: bigint): void {
    this.buffer.delete(sequence);
    this.sentAt.delete(sequence);
    this.inFlight.delete(sequence);
    this.held.delete(sequence);
  }

  /** Publish one buffered reading if connected, not paused, and the window has room. */
  private trySend(seq: bigint, payload: string): boolean {
    if (!this.client?.connected || Date.now() < this.pausedUntil) return false;
    if (this.inFlight.size >= this.window) return false;
    this.inFlight.add(seq);
    this.sentAt.set(seq, Date.now());
    this.client.publish(readingsTopic(this.p.deviceName), payload, { qos: 1 });
    return true;
  }

  private resendTimer: NodeJS.Timeout | undefined;
  /** No publishing before this time (ms): the bridge asked the device to wait (rate_limited, retry). */
  private pausedUntil = 0;

  /** Pause the whole device for `delayMs` (the bridge's retryAfterMs), then send what is unacknowledged. */
  private scheduleResend(delayMs = 1_000): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
    if (this.resendTimer) clearTimeout(this.resendTimer);
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      if (this.client?.connected) this.sendDue(0);
    }, this.pausedUntil - Date.now());
    this.resendTimer.unref();
  }

  /**
   * Send buffered readings, oldest first, as far as the window allows: those never sent, and those
   * sent more than `ms` ago without an answer (`ms` 0: after a reconnect or a pause, where nothing
   * sent before can still be answered, everything unanswered is due again).
   */
  private sendDue(ms: number): void {
    const now = Date.now();
    if (!this.client?.connected || now < this.pausedUntil) return;
    if (ms === 0) this.inFlight.clear();
    for (const [seq, payload] of this.buffer) {
      if (this.held.has(seq)) continue;
      if (this.inFlight.has(seq)) {
        if (now - (this.sentAt.get(seq) ?? 0) < ms) continue;
        this.inFlight.delete(seq); // unanswered for too long: due again
      }
      if (!this.trySend(seq, payload)) break;
    }
  }

  private persistSequence(sequence: bigint): void {
    if (!this.p.sequenceFile) return;
    const tmp = `${this.p.sequenceFile}.tmp`;
    writeFileSync(tmp, sequence.toString());
    renameSync(tmp, this.p.sequenceFile);
  }
}
