import { randomBytes } from "node:crypto";
import type { SecureContext } from "node:tls";
import mqtt, { type MqttClient } from "mqtt";
import { type AckMessage, decodeAck, outboxActionOf } from "../protocol/ack.js";
import { acksTopic, readingsTopic } from "../protocol/wire.js";
import type { Outbox, OutboxEntry } from "./outbox.js";

/** Where and as whom the agent connects: PEM files (software key), or a context whose key is in a token. */
export type PublisherMqtt = { url: string; protocolVersion?: 4 | 5 } & (
  | { ca: string; cert: string; key: string }
  | { secureContext: SecureContext }
);

/** What the publisher tells the agent (metrics, logs, waiters). */
export type PublisherEvents = {
  sent?(sequence: bigint, resend: boolean): void;
  answered?(ack: AckMessage): void;
  /** A `replay` answer for a reading no earlier copy of which can have reached the bridge: kept, held. */
  replayAlarm?(sequence: bigint): void;
  /** A final refusal: the reading left the outbox, not delivered. */
  refused?(sequence: bigint, reason: string): void;
  connected?(reconnect: boolean): void;
  disconnected?(error: Error | undefined): void;
};

export type PublisherParameters = {
  deviceName: string;
  outbox: Outbox;
  mqtt: PublisherMqtt;
  /**
   * Readings sent and not yet answered, at most; the window starts there and moves with the acks
   * (AIMD). Default: it starts at 32 and grows (one per `queued`) up to 256.
   */
  maxInFlight?: number;
  /** A reading not answered within this time is sent again (default 5,000 ms). */
  ackTimeoutMs?: number;
  /** Reconnect delays: exponential from minMs to maxMs, each with jitter (default 500 ms to 60 s). */
  reconnect?: { minMs?: number; maxMs?: number };
  events?: PublisherEvents;
};

/** Readings fetched from the outbox at a time: the backlog stays on disk, not in memory. */
const PAGE = 128;
/** Without maxInFlight: the window starts at 32 and grows by one per `queued` up to 256. */
const INITIAL_WINDOW = 32;
const DEFAULT_MAX_WINDOW = 256;

/**
 * Publishes the outbox over mTLS MQTT (QoS 1), oldest first: a window of readings in flight that
 * grows by one with each `queued` and halves when the bridge asks for a pause (additive increase,
 * multiplicative decrease); a paused device sends nothing until the bridge's `retryAfterMs` has
 * passed; readings unanswered after ackTimeoutMs go out again; after a lost connection it
 * reconnects with exponential backoff and jitter and sends everything unanswered again. What
 * each answer does to the outbox is docs/PROTOCOL.md's table (outboxActionOf), with one check of
 * its own: `replay` counts as delivered only for a reading an earlier copy of which may have
 * reached the bridge (sent before, in flight across a reconnect, or kept from an earlier run).
 */
export class Publisher {
  private client: MqttClient | undefined;
  private readonly maxWindow: number;
  private window: number;
  private readonly ackTimeoutMs: number;
  /** Sent and unanswered: the payload (to resend it on a timeout) and when it went. */
  private readonly inFlight = new Map<bigint, { payload: string; sentAt: number }>();
  /** Sent at least once by this run and still in the outbox. */
  private readonly sentOnce = new Set<bigint>();
  /** Of those, readings an earlier copy of which may have reached the bridge. */
  private readonly mayBeHeld = new Set<bigint>();
  /** The highest sequence taken from the outbox into `queue` since the last rewind. */
  private cursor = 0n;
  private queue: OutboxEntry[] = [];
  private pausedUntil = 0;
  private resendTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private everConnected = false;
  private stopping = false;

  constructor(private readonly p: PublisherParameters) {
    // Given: the window starts at maxInFlight (as before). Default: it starts at 32 and grows to 256.
    this.maxWindow = p.maxInFlight ?? DEFAULT_MAX_WINDOW;
    this.window = p.maxInFlight ?? INITIAL_WINDOW;
    this.ackTimeoutMs = p.ackTimeoutMs ?? 5_000;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Connect; resolves once connected with the acks topic subscribed (`wait`), or at once. */
  start(opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.stopping = false;
    const { url, protocolVersion = 5 } = this.p.mqtt;
    const identity =
      "secureContext" in this.p.mqtt
        ? { secureContext: this.p.mqtt.secureContext }
        : { ca: this.p.mqtt.ca, cert: this.p.mqtt.cert, key: this.p.mqtt.key };
    const client = mqtt.connect(url, {
      protocolVersion,
      ...identity,
      // Clean sessions with the outbox as the store. The fleet broker replaces the id with the
      // certificate's CN (use_username_as_clientid): one connection per device.
      clientId: `device-${this.p.deviceName.slice(0, 16)}-${randomBytes(4).toString("hex")}`,
      rejectUnauthorized: true,
      reconnectPeriod: 0, // reconnects are ours: backoff with jitter
      connectTimeout: 10_000,
      // mqtt-packet otherwise builds, at the first packet, a table of 65,536 two-byte Buffers for
      // the packet ids (one object each): 6.5 MB of V8 heap held for the life of the process, on
      // an agent whose heap is otherwise 9 MB. Without it each id is a new 2-byte Buffer.
      writeCache: false,
    });
    this.client = client;
    const ready = new Promise<void>((resolve, reject) => {
      const t =
        opts.wait === false
          ? undefined
          : setTimeout(() => reject(new Error(`not connected to ${url} in time`)), opts.timeoutMs ?? 30_000);
      client.on("message", (_topic, payload) => this.onAck(payload));
      client.on("error", () => {}); // a close follows; the reason is in disconnected()
      client.on("connect", () => {
        const reconnect = this.everConnected;
        this.everConnected = true;
        this.reconnectAttempt = 0;
        // What was in flight may have reached the bridge: a later `replay` for it is a delivery.
        for (const seq of this.inFlight.keys()) this.mayBeHeld.add(seq);
        this.inFlight.clear();
        this.rewind();
        client.subscribe(acksTopic(this.p.deviceName), { qos: 1 }, (err) => {
          if (err) return;
          this.p.events?.connected?.(reconnect);
          if (t) clearTimeout(t);
          resolve();
          this.pump();
        });
      });
      client.on("close", () => {
        if (this.stopping || this.client !== client) return;
        this.p.events?.disconnected?.(undefined);
        this.scheduleReconnect(client);
      });
    });
    if (this.timeoutTimer) clearInterval(this.timeoutTimer);
    this.timeoutTimer = setInterval(() => this.resendOverdue(), Math.max(250, this.ackTimeoutMs / 4));
    this.timeoutTimer.unref();
    if (opts.wait === false) {
      ready.catch(() => {});
      return Promise.resolve();
    }
    return ready;
  }

  /**
   * A reading was committed to the outbox: send what the window allows. Readings can be
   * committed out of order (signing finishes out of order, e.g. in a token): one below the
   * position the publisher has read up to moves that position back, so it is not passed over.
   */
  wake(committed?: bigint): void {
    if (committed !== undefined && committed <= this.cursor) {
      this.cursor = committed - 1n;
      this.queue = [];
    }
    this.pump();
  }

  /** Publish a raw payload on a topic (tests play misbehaving devices with it). */
  async publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    await this.client?.publishAsync(topic, payload, { qos: 1 });
  }

  /**
   * Connect again with another TLS identity (a renewed certificate, a rotated key), waiting up to
   * `drainMs` for the answers in flight first. The same publisher: what it sent stays known as
   * sent, so a `replay` for a reading sent before the switch is a delivery, not an alarm.
   */
  async reconnectWith(mqtt: PublisherMqtt, drainMs = 0): Promise<void> {
    await this.stop(drainMs);
    this.p.mqtt = mqtt;
    await this.start({ wait: false });
  }

  /**
   * Stop: wait up to `drainMs` for the readings in flight to be answered, then disconnect.
   * Returns how many were still unanswered (they stay in the outbox and go out on the next start).
   */
  async stop(drainMs = 0): Promise<number> {
    const until = Date.now() + drainMs;
    this.pausedUntil = Number.POSITIVE_INFINITY; // nothing new goes out while draining
    while (this.inFlight.size > 0 && this.connected && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    const left = this.inFlight.size;
    this.stopping = true;
    for (const t of [this.resendTimer, this.reconnectTimer]) if (t) clearTimeout(t);
    if (this.timeoutTimer) clearInterval(this.timeoutTimer);
    const client = this.client;
    this.client = undefined;
    await client?.endAsync(true).catch(() => {});
    this.pausedUntil = 0;
    this.inFlight.clear();
    return left;
  }

  /** Reconnect after `client` closed: exponential backoff from minMs to maxMs, with jitter (half to all of it). */
  private scheduleReconnect(client: MqttClient): void {
    if (this.reconnectTimer) return;
    const min = this.p.reconnect?.minMs ?? 500;
    const max = this.p.reconnect?.maxMs ?? 60_000;
    const base = Math.min(max, min * 2 ** Math.min(this.reconnectAttempt, 30));
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectAttempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping && this.client === client) client.reconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Start again from the oldest reading in the outbox (after a reconnect or a pause). */
  private rewind(): void {
    this.cursor = 0n;
    this.queue = [];
  }

  /** Send readings, oldest first, while connected, not paused and the window has room. */
  private pump(): void {
    const client = this.client;
    if (!client?.connected || Date.now() < this.pausedUntil) return;
    while (this.inFlight.size < this.window) {
      if (this.queue.length === 0) {
        this.queue = this.p.outbox.page(this.cursor, PAGE);
        if (this.queue.length === 0) return;
        this.cursor = (this.queue[this.queue.length - 1] as OutboxEntry).sequence;
      }
      const entry = this.queue.shift() as OutboxEntry;
      if (this.inFlight.has(entry.sequence)) continue;
      this.send(client, entry.sequence, entry.payload);
    }
  }

  private send(client: MqttClient, sequence: bigint, payload: string): void {
    const resend = this.sentOnce.has(sequence);
    if (resend) this.mayBeHeld.add(sequence);
    else this.sentOnce.add(sequence);
    this.inFlight.set(sequence, { payload, sentAt: Date.now() });
    client.publish(readingsTopic(this.p.deviceName), payload, { qos: 1 }, () => {});
    this.p.events?.sent?.(sequence, resend);
  }

  /**
   * Readings unanswered for ackTimeoutMs go out again (the bridge may have been down); and the
   * window is topped up (readings committed while nothing woke the publisher).
   */
  private resendOverdue(): void {
    const client = this.client;
    if (!client?.connected || Date.now() < this.pausedUntil) return;
    const now = Date.now();
    for (const [seq, f] of this.inFlight)
      if (now - f.sentAt >= this.ackTimeoutMs) this.send(client, seq, f.payload);
    this.pump();
  }

  private onAck(payload: Buffer): void {
    const ack = decodeAck(payload);
    if (!ack) return;
    this.p.events?.answered?.(ack);
    const next = outboxActionOf(ack);
    if (next.action === "resend") {
      // rate_limited or retry: nothing stored; the whole device waits what the bridge asked.
      if (ack.sequence !== null) this.inFlight.delete(BigInt(ack.sequence));
      this.window = Math.max(1, Math.floor(this.window / 2));
      this.pauseFor(next.afterMs);
      return;
    }
    if (ack.sequence === null) return;
    const sequence = BigInt(ack.sequence);
    this.inFlight.delete(sequence);
    const { outbox } = this.p;
    if (next.action === "hold") {
      outbox.hold(sequence, "outside_window");
    } else if (ack.status === "rejected" && ack.reason === "replay") {
      // Delivered only if an earlier copy may be what the bridge holds; else an alarm.
      if (outbox.has(sequence)) {
        if (sequence <= outbox.carriedUpTo || this.mayBeHeld.has(sequence)) outbox.remove(sequence);
        else {
          outbox.hold(sequence, "replay_unqueued");
          this.p.events?.replayAlarm?.(sequence);
        }
      }
    } else {
      if (ack.status === "queued") this.window = Math.min(this.maxWindow, this.window + 1);
      else if (outbox.has(sequence)) this.p.events?.refused?.(sequence, ack.reason);
      outbox.remove(sequence);
    }
    this.sentOnce.delete(sequence);
    this.mayBeHeld.delete(sequence);
    this.pump();
  }

  /** No publishing for `ms` (the bridge's retryAfterMs); then everything unanswered goes out again. */
  private pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
    if (this.resendTimer) clearTimeout(this.resendTimer);
    const resume = () => {
      // A timer may fire a little before Date.now() reaches the end of the pause: wait the rest.
      const left = this.pausedUntil - Date.now();
      if (left > 0) {
        this.resendTimer = setTimeout(resume, left);
        this.resendTimer.unref();
        return;
      }
      this.resendTimer = undefined;
      for (const seq of this.inFlight.keys()) this.mayBeHeld.add(seq);
      this.inFlight.clear();
      this.rewind();
      this.pump();
    };
    this.resendTimer = setTimeout(resume, this.pausedUntil - Date.now());
    this.resendTimer.unref();
  }
}
