import { ReadingInputError } from "../errors.js";
import { type FeedTable, feedOf, onChainValue } from "../feeds.js";
import type { TakenReading } from "../reading-sink.js";

/** A reading as a source writes it: `{"feed":"temperature","value":21.5,"takenAt":1764400000}`. */
export type ReadingInput = { feed: string; value: number | string; takenAt?: number | string };

export type ReadingFromInputParameters = {
  feeds: FeedTable;
  /** What the source gave: parsed JSON, an object from code. */
  input: unknown;
  /** When the source handed the reading over (unix seconds): the takenAt of a reading without one. */
  receivedAt: bigint;
  /** The value is an integer count of 10^-impliedDecimals units (feeds.ts). */
  impliedDecimals?: number;
};

/** Later than this is not unix seconds (year 5138): most likely milliseconds. */
const MAX_TAKEN_AT = 100_000_000_000;
const KEYS = new Set(["feed", "value", "takenAt"]);

/**
 * The reading a source means, in on-chain units: its feed checked against the config, its value
 * scaled exactly (feeds.ts), its time the one it carries or else when it was received. Throws
 * ReadingInputError with the reason to count and tell the source.
 */
export function readingFromInput(p: ReadingFromInputParameters): TakenReading {
  const { input } = p;
  if (typeof input !== "object" || input === null || Array.isArray(input))
    throw new ReadingInputError(
      "malformed",
      'a reading is an object {"feed": ..., "value": ..., "takenAt"?: ...}',
    );
  const r = input as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KEYS.has(k))
      throw new ReadingInputError(
        "malformed",
        `unknown field ${JSON.stringify(k.slice(0, 40))} (known: feed, value, takenAt)`,
      );
  }
  if (r.feed === undefined) throw new ReadingInputError("malformed", "feed is missing");
  if (r.value === undefined) throw new ReadingInputError("malformed", "value is missing");
  const feed = feedOf(p.feeds, r.feed);
  const value = onChainValue(
    feed,
    r.value,
    p.impliedDecimals === undefined ? {} : { impliedDecimals: p.impliedDecimals },
  );
  const takenAt = r.takenAt === undefined ? p.receivedAt : takenAtOf(r.takenAt);
  return { feed: feed.name, value, takenAt };
}

/** takenAt: whole unix seconds, as a number or a string of digits. */
export function takenAtOf(t: unknown): bigint {
  let n: number;
  if (typeof t === "number") n = t;
  else if (typeof t === "string" && /^\d{1,15}$/.test(t.trim())) n = Number(t.trim());
  else throw new ReadingInputError("bad_timestamp", "takenAt must be whole unix seconds (a number)");
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ReadingInputError("bad_timestamp", `takenAt ${t} is not whole unix seconds`);
  if (n >= MAX_TAKEN_AT)
    throw new ReadingInputError("bad_timestamp", `takenAt ${t} is in milliseconds? It must be unix seconds`);
  return BigInt(n);
}

/** Now, in unix seconds. */
export function unixNow(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}
