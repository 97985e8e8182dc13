import { walkCauses } from "../../protocol/errors.js";
import { READING_INPUT_REASONS, ReadingInputError, type ReadingInputReason } from "../errors.js";
import type { FeedTable } from "../feeds.js";
import type { ReadingSink, TakenReading } from "../reading-sink.js";
import type { InputLog } from "./input-log.js";
import { readingFromInput } from "./reading-input.js";

/** Where a reading came from: each input, and code calling the agent through startInputs' take. */
export const INPUT_SOURCES = ["stdin", "command", "http", "api"] as const;
export type InputSource = (typeof INPUT_SOURCES)[number];

/** Readings taken (handed to the sink and given a sequence) and refused, by source and reason. */
export type InputStats = {
  taken: Record<InputSource, number>;
  rejected: Record<InputSource, Record<ReadingInputReason, number>>;
};

export type ReadingIntakeParameters = { feeds: FeedTable; sink: ReadingSink; log: InputLog };

export type IntakeOptions = {
  /** When the source handed the reading over (unix seconds): its takenAt unless it carries one. */
  receivedAt: bigint;
  impliedDecimals?: number;
};

/**
 * The one path from every input to the sink: check and scale the reading (reading-input.ts), hand
 * it to the sink, count it taken or refused by reason. Every refusal is a ReadingInputError, also
 * the sink's own (an outbox at its quota becomes `outbox_full`).
 */
export class ReadingIntake {
  readonly feeds: FeedTable;
  readonly #sink: ReadingSink;
  readonly #log: InputLog;
  readonly #taken = Object.fromEntries(INPUT_SOURCES.map((s) => [s, 0])) as Record<InputSource, number>;
  readonly #rejected = Object.fromEntries(
    INPUT_SOURCES.map((s) => [s, Object.fromEntries(READING_INPUT_REASONS.map((r) => [r, 0]))]),
  ) as Record<InputSource, Record<ReadingInputReason, number>>;

  constructor(p: ReadingIntakeParameters) {
    this.feeds = p.feeds;
    this.#sink = p.sink;
    this.#log = p.log;
  }

  /** Check, scale and take one reading; rejects with a (counted) ReadingInputError. */
  async take(source: InputSource, input: unknown, o: IntakeOptions): Promise<{ sequence: bigint }> {
    return this.hand(source, this.check(source, input, o));
  }

  /** Check and scale a reading without taking it; throws a (counted) ReadingInputError. */
  check(source: InputSource, input: unknown, o: IntakeOptions): TakenReading {
    try {
      return readingFromInput({
        feeds: this.feeds,
        input,
        receivedAt: o.receivedAt,
        ...(o.impliedDecimals === undefined ? {} : { impliedDecimals: o.impliedDecimals }),
      });
    } catch (err) {
      throw this.refused(source, err);
    }
  }

  /** Hand a checked reading to the sink; rejects with a (counted) ReadingInputError, e.g. `outbox_full`. */
  async hand(source: InputSource, reading: TakenReading): Promise<{ sequence: bigint }> {
    try {
      const taken = await this.#sink.take(reading);
      this.#taken[source] += 1;
      return taken;
    } catch (err) {
      const refusal = sinkRefusal(err);
      if (refusal.reason === "sink_failed")
        this.#log.error({ err, source, feed: reading.feed }, "agent refused a reading");
      throw this.refused(source, refusal);
    }
  }

  /** Count a refusal (of `count` readings: a line or body that never became one, or one `take` refused); returns it. */
  refused(source: InputSource, err: unknown, count = 1): ReadingInputError {
    const e =
      err instanceof ReadingInputError
        ? err
        : new ReadingInputError("malformed", err instanceof Error ? err.message : String(err), {
            cause: err,
          });
    this.#rejected[source][e.reason] += count;
    return e;
  }

  stats(): InputStats {
    return {
      taken: { ...this.#taken },
      rejected: Object.fromEntries(
        INPUT_SOURCES.map((s) => [s, { ...this.#rejected[s] }]),
      ) as InputStats["rejected"],
    };
  }
}

/**
 * What a sink's rejection means to the source: OutboxFullError (the outbox at its quota, or the
 * agent stopping) is `outbox_full`, UnknownFeedError `unknown_feed`, anything else `sink_failed`.
 * Matched by error name along the cause chain, so this file needs nothing from the agent.
 */
export function sinkRefusal(err: unknown): ReadingInputError {
  if (err instanceof ReadingInputError) return err;
  const named = (name: string) =>
    walkCauses(err, (e) => e instanceof Error && e.name === name) as Error | null;
  const full = named("OutboxFullError");
  if (full)
    return new ReadingInputError(
      "outbox_full",
      "the agent's outbox is full: reading refused, try again later",
      {
        details: full.message,
        cause: err,
      },
    );
  const unknown = named("UnknownFeedError");
  if (unknown) return new ReadingInputError("unknown_feed", unknown.message, { cause: err });
  return new ReadingInputError("sink_failed", "the agent could not take the reading", {
    details: err instanceof Error ? err.message : String(err),
    cause: err,
  });
}
