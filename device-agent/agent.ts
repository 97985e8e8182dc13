import type { SecureContext } from "node:tls";
import type { Hex } from "viem";
// The protocol's modules one by one, not its index: the index loads viem (reading-abi.ts) and the
// Merkle tree, which the agent does not use (about 30 MB of RSS on a gateway).
import type { AckMessage } from "../protocol/ack.js";
import {
  deviceNameToId,
  feedIdOf,
  type Reading,
  type ReadingDomain,
  readingDigest,
} from "../protocol/reading.js";
import { encodeReadingMessage } from "../protocol/wire.js";
import { AgentMetrics } from "./agent-metrics.js";
import { OutboxError, OutboxFullError, UnknownFeedError } from "./errors.js";
import { Outbox, type OutboxParameters } from "./outbox.js";
import { Publisher, type PublisherMqtt } from "./publisher.js";
import type { ReadingSink, TakenReading } from "./reading-sink.js";
import type { ReadingSigner } from "./signer.js";

/** Where the agent logs (pino's shape; a pino logger fits). */
export type AgentLog = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type DeviceAgentParameters = {
  deviceName: string;
  signer: ReadingSigner;
  domain: ReadingDomain;
  /** TLS identity: PEM files (software key, development), or a context whose key is in a token (tls.ts). */
  mqtt: PublisherMqtt;
  /**
   * The outbox: a SQLite file that survives restarts and power cuts (Outbox). Without it, an
   * outbox in memory (tests, demos): gone with the process.
   */
  outbox?: Omit<OutboxParameters, "legacySequenceFile"> | Outbox;
  /**
   * The `.sequence` file of an agent before the outbox. With an outbox file: sequences start above
   * it (migration). Without one (tests): the outbox goes to `<sequenceFile>.outbox.db`.
   */
  sequenceFile?: string;
  /**
   * The feeds take() accepts, by name: a name alone (its feed id is feedIdOf(name)) or with the feed
   * id the config gives it (device-agent/feeds.ts).
   */
  feeds?: readonly (string | { name: string; feedId: Hex })[];
  /** A reading not acknowledged within this time is sent again (the bridge may have been down). */
  ackTimeoutMs?: number;
  /** Readings sent and not yet answered, at most (Publisher: by default from 32 up to 256): a window that moves with the acks. */
  maxInFlight?: number;
  /** Reconnect backoff (Publisher). */
  reconnect?: { minMs?: number; maxMs?: number };
  log?: AgentLog;
  /** Where the counters go (a fresh AgentMetrics when absent). */
  metrics?: AgentMetrics;
  /**
   * Answers kept in `acks`, the most recent last (default DEFAULT_ACK_HISTORY, 1,000; 0 keeps
   * none). waitForAck and waitForFinalAck look there for an answer that came before the call.
   */
  ackHistory?: number;
};

/**
 * Answers a DeviceAgent keeps by default: enough for tests and demos that look at them, small for
 * a daemon (10,000 were about 0.9 MB of its V8 heap while a backlog drained).
 */
export const DEFAULT_ACK_HISTORY = 1_000;

export type AckOutcome =
  | { sequence: bigint; status: "queued" }
  | { sequence: bigint; status: "rejected" | "retry" | "unconfirmed"; reason: string };

const silent: AgentLog = { info() {}, warn() {}, error() {} };

/**
 * A device: takes readings (ReadingSink), signs each with the next durably reserved sequence,
 * commits it to its outbox (fsync'd) and publishes it (Publisher); a reading leaves the outbox
 * only on the bridge's `queued` (or a final refusal). Inputs hand readings to take(); the
 * TypeScript API is the same call.
 */
export class DeviceAgent implements ReadingSink {
  readonly outbox: Outbox;
  readonly metrics: AgentMetrics;
  private publisher: Publisher;
  private readonly feeds: Map<string, Hex>;
  private readonly log: AgentLog;
  private readonly waiters = new Map<bigint, (o: AckOutcome) => void>();
  private readonly finalWaiters = new Map<bigint, (o: AckOutcome) => void>();
  private taking = true;
  /**
   * A key rotation under way (hold()): readings timestamped at or after `from` wait here, unsigned,
   * until the new key is in force on-chain (rotate()) or the rotation is called off (release()).
   */
  private rotationHold: { from: bigint; released: Promise<void>; release: () => void } | undefined;
  /** After a rotation: the key that signs readings timestamped before `until` (the rotation time). */
  private previousKey: { signer: ReadingSigner; until: bigint } | undefined;
  /** The last answers (at most `ackHistory`, default 1,000), for callers that look at them (tests, the demo). */
  readonly acks: AckOutcome[] = [];
  private readonly ackHistory: number;
  /** Readings refused locally because the outbox was full. */
  refused = 0;

  constructor(private p: DeviceAgentParameters) {
    this.log = p.log ?? silent;
    this.ackHistory = p.ackHistory ?? DEFAULT_ACK_HISTORY;
    this.metrics = p.metrics ?? new AgentMetrics();
    this.feeds = new Map(
      (p.feeds ?? []).map((f) => (typeof f === "string" ? [f, feedIdOf(f)] : [f.name, f.feedId])),
    );
    if (p.outbox instanceof Outbox) this.outbox = p.outbox;
    else {
      const path = p.outbox?.path ?? (p.sequenceFile ? `${p.sequenceFile}.outbox.db` : ":memory:");
      this.outbox = new Outbox({
        ...p.outbox,
        path,
        ...(p.sequenceFile ? { legacySequenceFile: p.sequenceFile } : {}),
      });
    }
    this.metrics.observeOutbox(this.outbox);
    this.publisher = this.newPublisher(p.mqtt);
  }

  get deviceName(): string {
    return this.p.deviceName;
  }

  /** Readings in the outbox (not yet acknowledged `queued`, or held). */
  get buffered(): number {
    return this.outbox.depth;
  }

  /** Readings dropped from the outbox to make room: always 0 (a full outbox refuses new readings instead). */
  get dropped(): number {
    return 0;
  }

  get connected(): boolean {
    return this.publisher.connected;
  }

  /** Connect and publish what the outbox holds; `wait: false` returns at once (a daemon whose broker is down). */
  async start(opts: { wait?: boolean } = {}): Promise<void> {
    await this.publisher.start(opts);
  }

  /** ReadingSink: sign a reading of a configured feed, commit it to the outbox, queue it for publishing. */
  async take(r: TakenReading): Promise<{ sequence: bigint }> {
    const feedId = this.feeds.get(r.feed);
    if (feedId === undefined) {
      this.metrics.refused.inc({ reason: "unknown_feed" });
      throw new UnknownFeedError(r.feed);
    }
    return { sequence: await this.publish(feedId, r.value, r.takenAt) };
  }

  /**
   * Sign and store one reading for a feed id, timestamped `timestamp` (unix seconds, when it was
   * taken; now by default). Resolves with its sequence once it is on disk; it is published as
   * soon as the window allows. Rejects with OutboxFullError when the outbox is at its quota.
   */
  async publish(
    feedId: Hex,
    value: bigint,
    timestamp = BigInt(Math.floor(Date.now() / 1000)),
  ): Promise<bigint> {
    if (!this.taking) throw new OutboxError("The agent is stopping: reading refused.");
    if (this.outbox.wouldRefuse(300)) this.refuse();
    // During a rotation, a reading of the new key's time waits for the new key (never the old one:
    // the registry would refuse the old key's signature on it).
    while (this.rotationHold && timestamp >= this.rotationHold.from) await this.rotationHold.released;
    if (!this.taking) throw new OutboxError("The agent is stopping: reading refused.");
    const signer =
      this.previousKey && timestamp < this.previousKey.until ? this.previousKey.signer : this.p.signer;
    const sequence = this.outbox.sequences.take();
    const reading: Reading = {
      deviceId: deviceNameToId(this.p.deviceName),
      feedId,
      value,
      timestamp,
      sequence,
    };
    const t0 = performance.now();
    const signature = await signer.sign(readingDigest(reading, this.p.domain));
    this.metrics.signingSeconds.observe((performance.now() - t0) / 1000);
    try {
      await this.outbox.add({ sequence, payload: encodeReadingMessage(reading, signature) }, timestamp);
    } catch (err) {
      if (err instanceof OutboxFullError) this.refuse();
      throw err;
    }
    this.metrics.taken.inc();
    this.publisher.wake(sequence);
    return sequence;
  }

  /**
   * The first step of a key rotation the device makes (device-agent/self-renewal.ts): from now on,
   * readings timestamped at or after `from` (unix seconds, the rotation time the device asks the
   * registry for) wait unsigned until rotate() brings the new key or release() calls it off.
   * Readings of earlier times are signed with the current key as before.
   */
  hold(from: bigint): void {
    if (this.rotationHold) throw new OutboxError("A key rotation is already under way.");
    let release = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    this.rotationHold = { from, released, release };
  }

  /** Call off a hold(): the waiting readings are signed with the current key. */
  release(): void {
    const h = this.rotationHold;
    this.rotationHold = undefined;
    h?.release();
  }

  /**
   * Switch to a rotated key: readings are signed with `signer` from `from` (the rotation time in
   * the registry; by default every reading from now on), and readings timestamped before it with
   * the key they were signed with until now, so that each verifies against the registry's key of
   * its time. Releases a hold(). With a new TLS identity the agent reconnects; what the outbox
   * holds is sent again on the new connection (a renewed certificate alone: `secureContext`
   * without `signer`). Nothing is dropped.
   */
  async rotate(p: { signer?: ReadingSigner; secureContext?: SecureContext; from?: bigint }): Promise<void> {
    if (p.signer) {
      if (p.from !== undefined) this.previousKey = { signer: this.p.signer, until: p.from };
      this.p.signer = p.signer;
    }
    this.release();
    if (p.secureContext) {
      const { url, protocolVersion } = this.p.mqtt;
      this.p.mqtt = { url, secureContext: p.secureContext, ...(protocolVersion ? { protocolVersion } : {}) };
      // The answers in flight first, briefly (fewer readings sent twice); connected in the background.
      await this.publisher.reconnectWith(this.p.mqtt, 2_000);
    }
  }

  /** Publish a raw payload on a topic (tests use it to play misbehaving devices). */
  publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    return this.publisher.publishRaw(topic, payload);
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

  /**
   * Wait for the answer that settles a reading: `queued`, a final refusal, or `unconfirmed` (not
   * `rate_limited` or `retry`, after which it is sent again). Null when none came in time.
   */
  waitForFinalAck(sequence: bigint, timeoutMs = 15_000): Promise<AckOutcome | null> {
    const seen = this.acks.find((a) => a.sequence === sequence && isFinal(a));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.finalWaiters.delete(sequence);
        resolve(null);
      }, timeoutMs);
      this.finalWaiters.set(sequence, (o) => {
        clearTimeout(t);
        resolve(o);
      });
    });
  }

  /**
   * Disconnect, waiting up to `drainMs` for the answers to what is in flight. The agent still
   * takes readings (they wait in the outbox) and start() connects again.
   */
  async stop(opts: { drainMs?: number } = {}): Promise<{ unanswered: number }> {
    return { unanswered: await this.publisher.stop(opts.drainMs ?? 0) };
  }

  /**
   * Shut down (SIGTERM): take no more readings, wait up to `drainMs` for the answers to what is
   * in flight, disconnect and close the outbox. What is unanswered stays on disk for the next run.
   */
  async close(opts: { drainMs?: number } = {}): Promise<{ unanswered: number; outboxDepth: number }> {
    this.taking = false;
    this.release(); // readings waiting on a rotation are refused (the agent is stopping)
    const { unanswered } = await this.stop(opts);
    const outboxDepth = this.outbox.depth;
    this.outbox.close();
    return { unanswered, outboxDepth };
  }

  private refuse(): never {
    this.refused += 1;
    this.metrics.refused.inc({ reason: "outbox_full" });
    const err = new OutboxFullError({ usedBytes: this.outbox.bytes, quotaBytes: this.outbox.quotaBytes });
    this.log.error(
      { device: this.p.deviceName, usedBytes: err.usedBytes, quotaBytes: err.quotaBytes },
      "outbox full: reading refused",
    );
    throw err;
  }

  private newPublisher(mqtt: PublisherMqtt): Publisher {
    const m = this.metrics;
    return new Publisher({
      deviceName: this.p.deviceName,
      outbox: this.outbox,
      mqtt,
      ...(this.p.maxInFlight === undefined ? {} : { maxInFlight: this.p.maxInFlight }),
      ...(this.p.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: this.p.ackTimeoutMs }),
      ...(this.p.reconnect === undefined ? {} : { reconnect: this.p.reconnect }),
      events: {
        sent: (_seq, resend) => (resend ? m.resent.inc() : m.sent.inc()),
        answered: (ack) => this.onAnswer(ack),
        replayAlarm: (sequence) => {
          m.replayAlarms.inc();
          this.log.error(
            { device: this.p.deviceName, sequence: sequence.toString() },
            "replay answer for a reading the bridge was never sent before: not a delivery; kept in the outbox and held",
          );
        },
        refused: (sequence, reason) =>
          this.log.warn(
            { device: this.p.deviceName, sequence: sequence.toString(), reason },
            "reading refused by the bridge: not delivered",
          ),
        connected: (reconnect) => {
          m.connected.set(1);
          if (reconnect) m.reconnects.inc();
          this.log.info({ device: this.p.deviceName, reconnect }, "connected to the broker");
        },
        disconnected: () => {
          m.connected.set(0);
          this.log.warn(
            { device: this.p.deviceName },
            "disconnected from the broker; reconnecting with backoff",
          );
        },
      },
    });
  }

  private onAnswer(ack: AckMessage): void {
    if (ack.sequence === null) return;
    const sequence = BigInt(ack.sequence);
    const outcome: AckOutcome =
      ack.status === "queued"
        ? { sequence, status: "queued" }
        : { sequence, status: ack.status, reason: ack.reason };
    if (ack.status === "queued") this.metrics.acknowledged.inc();
    else this.metrics.rejected.inc({ status: ack.status, reason: ack.reason });
    if (this.ackHistory > 0) {
      this.acks.push(outcome);
      if (this.acks.length > this.ackHistory) this.acks.shift();
    }
    this.waiters.get(sequence)?.(outcome);
    this.waiters.delete(sequence);
    if (isFinal(outcome)) {
      this.finalWaiters.get(sequence)?.(outcome);
      this.finalWaiters.delete(sequence);
    }
  }
}

/** Whether an answer settles a reading (it is not sent again on its own after it). */
const isFinal = (a: AckOutcome) =>
  a.status !== "retry" && !(a.status === "rejected" && a.reason === "rate_limited");
