import type { Hex } from "viem";
import { feedIdOf, INT256_MAX, INT256_MIN } from "../protocol/reading.js";
import { FeedConfigError, ReadingInputError } from "./errors.js";

/**
 * A device's feeds, as its agent config lists them, and the one conversion every input uses from a
 * measured value (a JSON number or a decimal string such as "21.375") to the integer that is signed
 * and goes on-chain: value × 10^decimals, exactly. Decimal strings are read as decimals, never
 * through a float; a JS number is read through its shortest decimal form (String(n)), so 0.1 is 0.1
 * and 0.1 + 0.2 is 0.30000000000000004.
 *
 * A value with more fraction digits than the feed keeps is refused (`too_precise`) unless the feed
 * says `"rounding": "half-even"`: an oracle should not change what a sensor said without being told to.
 */

/** What to do with fraction digits the feed does not keep: refuse the reading, or round half to even. */
export type FeedRounding = "refuse" | "half-even";

/** One entry of the config's `feeds` list. */
export type FeedConfig = {
  name: string;
  /** Fraction digits kept on-chain (default 0): 21.375 with decimals 3 is signed as 21375. */
  decimals?: number;
  /** The other way to say decimals: the on-chain unit, a power of ten such as 0.001 (decimals 3). */
  scale?: number | string;
  /** For people and dashboards only (°C, %RH, hPa): not signed. */
  unit?: string;
  /** Smallest and largest accepted value, in the feed's unit (not scaled). */
  min?: number | string;
  max?: number | string;
  rounding?: FeedRounding;
  /** The on-chain feed id; default feedIdOf(name), keccak256 of the name. */
  feedId?: Hex;
};

/** A validated feed. min and max are in on-chain units, like the values it produces. */
export type FeedSpec = {
  name: string;
  feedId: Hex;
  decimals: number;
  unit: string | undefined;
  min: bigint | undefined;
  max: bigint | undefined;
  rounding: FeedRounding;
};

/** The device's feeds by name. */
export type FeedTable = ReadonlyMap<string, FeedSpec>;

/** int256 holds 77 full decimal digits. */
export const MAX_FEED_DECIMALS = 77;
/** Longer value strings are refused before any arithmetic (no 10^huge from "1e999999999"). */
const MAX_VALUE_CHARS = 100;
const FEED_KEYS = new Set(["name", "decimals", "scale", "unit", "min", "max", "rounding", "feedId"]);
const FEED_NAME = /^[^\s\p{Cc}]{1,128}$/u;
const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * Read and check the config's `feeds` section: a non-empty list of FeedConfig (or bare names, every
 * default) with distinct names and ids.
 */
export function parseFeeds(section: unknown, key = "feeds"): FeedTable {
  if (!Array.isArray(section) || section.length === 0)
    throw new FeedConfigError(key, "expected a non-empty list of feeds ({ name, decimals, unit, min, max })");
  const feeds = new Map<string, FeedSpec>();
  const ids = new Set<string>();
  section.forEach((entry, i) => {
    const spec = parseFeed(entry, `${key}[${i}]`);
    if (feeds.has(spec.name))
      throw new FeedConfigError(`${key}[${i}].name`, `feed "${spec.name}" is listed twice`);
    if (ids.has(spec.feedId))
      throw new FeedConfigError(`${key}[${i}].feedId`, `feed id ${spec.feedId} is used by another feed`);
    feeds.set(spec.name, spec);
    ids.add(spec.feedId);
  });
  return feeds;
}

/** One feed entry (parseFeeds checks the list). */
export function parseFeed(entry: unknown, key = "feed"): FeedSpec {
  // A bare name is a feed with every default: "door" is { "name": "door" }.
  if (typeof entry === "string") return parseFeed({ name: entry }, key);
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    throw new FeedConfigError(key, "expected an object { name, decimals?, unit?, min?, max? }");
  const e = entry as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!FEED_KEYS.has(k))
      throw new FeedConfigError(`${key}.${k}`, `unknown key (known: ${[...FEED_KEYS].join(", ")})`);
  }
  if (typeof e.name !== "string" || !FEED_NAME.test(e.name))
    throw new FeedConfigError(`${key}.name`, "expected a name of 1 to 128 characters without spaces");
  const decimals = decimalsOf(e, key);
  if (e.unit !== undefined && typeof e.unit !== "string")
    throw new FeedConfigError(`${key}.unit`, 'expected a string such as "°C"');
  if (e.rounding !== undefined && e.rounding !== "refuse" && e.rounding !== "half-even")
    throw new FeedConfigError(`${key}.rounding`, 'expected "refuse" (the default) or "half-even"');
  let feedId: Hex;
  if (e.feedId === undefined) feedId = feedIdOf(e.name);
  else if (typeof e.feedId === "string" && /^0x[0-9a-fA-F]{64}$/.test(e.feedId))
    feedId = e.feedId.toLowerCase() as Hex;
  else throw new FeedConfigError(`${key}.feedId`, "expected 0x and 64 hex digits");
  const bare = {
    name: e.name,
    feedId,
    decimals,
    unit: e.unit,
    min: undefined,
    max: undefined,
    rounding: "refuse" as const,
  } satisfies FeedSpec;
  const bound = (which: "min" | "max"): bigint | undefined => {
    const v = e[which];
    if (v === undefined) return undefined;
    try {
      return onChainValue(bare, v);
    } catch (err) {
      const why = err instanceof ReadingInputError ? err.shortMessage : String(err);
      throw new FeedConfigError(`${key}.${which}`, why, { cause: err });
    }
  };
  const min = bound("min");
  const max = bound("max");
  if (min !== undefined && max !== undefined && min > max)
    throw new FeedConfigError(`${key}.min`, `min ${String(e.min)} is above max ${String(e.max)}`);
  return { ...bare, min, max, rounding: (e.rounding as FeedRounding | undefined) ?? "refuse" };
}

function decimalsOf(e: Record<string, unknown>, key: string): number {
  if (e.decimals !== undefined && e.scale !== undefined)
    throw new FeedConfigError(`${key}.scale`, "give decimals or scale, not both");
  if (e.decimals !== undefined) {
    const d = e.decimals;
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d > MAX_FEED_DECIMALS)
      throw new FeedConfigError(`${key}.decimals`, `expected a whole number from 0 to ${MAX_FEED_DECIMALS}`);
    return d;
  }
  if (e.scale !== undefined) {
    const s =
      typeof e.scale === "number" || typeof e.scale === "string" ? parseDecimal(String(e.scale)) : null;
    while (s && s.digits !== 0n && s.digits % 10n === 0n) {
      s.digits /= 10n;
      s.exponent += 1;
    }
    // A power of ten at most 1: a single significant digit 1 and no integer part above it.
    const ok = s !== null && s.digits === 1n && s.exponent <= 0 && -s.exponent <= MAX_FEED_DECIMALS;
    if (!ok) throw new FeedConfigError(`${key}.scale`, "expected a power of ten such as 1, 0.1 or 0.001");
    return 0 - s.exponent; // never -0
  }
  return 0;
}

/**
 * The feed a reading names. Throws ReadingInputError `malformed` for a name that is not a string,
 * `unknown_feed` for one the config does not list (the known ones are named in the message).
 */
export function feedOf(feeds: FeedTable, name: unknown): FeedSpec {
  if (typeof name !== "string")
    throw new ReadingInputError("malformed", "feed must be a string (a feed name)");
  const spec = feeds.get(name);
  if (!spec) {
    const known = [...feeds.keys()].slice(0, 10).join(", ");
    throw new ReadingInputError(
      "unknown_feed",
      `unknown feed "${name.slice(0, 128)}" (this device has: ${known})`,
    );
  }
  return spec;
}

export type OnChainValueOptions = {
  /**
   * The input is an integer count of 10^-impliedDecimals units (the 1-Wire driver prints
   * milli-degrees: impliedDecimals 3). Default 0.
   */
  impliedDecimals?: number;
};

/**
 * The on-chain integer for a measured value: a JS number, or a decimal string ("21.375", "-4",
 * "2.5e-3"). Throws ReadingInputError: `not_a_number`, `not_finite`, `too_precise` (more fraction
 * digits than the feed keeps, feed rounding "refuse"), `out_of_range` (outside [min, max] or int256).
 */
export function onChainValue(feed: FeedSpec, input: unknown, options: OnChainValueOptions = {}): bigint {
  const text = decimalText(input);
  const d = parseDecimal(text);
  if (d === null) {
    if (/^[+-]?(nan|inf|infinity)$/i.test(text))
      throw new ReadingInputError("not_finite", `value ${text} is not a finite number`);
    throw new ReadingInputError("not_a_number", `value ${quote(text)} is not a number`);
  }
  const shift = d.exponent + feed.decimals - (options.impliedDecimals ?? 0);
  let value: bigint;
  if (d.digits === 0n) value = 0n;
  else if (shift >= 0) {
    if (digitCount(d.digits) + shift > 80) throw outOfInt256(text, feed);
    value = d.digits * 10n ** BigInt(shift);
  } else if (-shift > digitCount(d.digits)) {
    // Smaller than half a unit: nothing survives the scaling.
    if (feed.rounding === "refuse") throw tooPrecise(text, feed);
    value = 0n;
  } else {
    const unit = 10n ** BigInt(-shift);
    const q = d.digits / unit;
    const r = d.digits % unit;
    if (r === 0n) value = q;
    else if (feed.rounding === "refuse") throw tooPrecise(text, feed);
    else value = roundHalfEven(q, r, unit);
  }
  if (value < INT256_MIN || value > INT256_MAX) throw outOfInt256(text, feed);
  if ((feed.min !== undefined && value < feed.min) || (feed.max !== undefined && value > feed.max)) {
    const lo = feed.min === undefined ? "-∞" : formatOnChainValue(feed, feed.min);
    const hi = feed.max === undefined ? "+∞" : formatOnChainValue(feed, feed.max);
    throw new ReadingInputError(
      "out_of_range",
      `value ${text} is outside feed "${feed.name}"'s range [${lo}, ${hi}]${feed.unit ? ` ${feed.unit}` : ""}`,
    );
  }
  return value;
}

/** An on-chain integer written back in the feed's unit: 21375n with decimals 3 is "21.375". */
export function formatOnChainValue(feed: Pick<FeedSpec, "decimals">, value: bigint): string {
  const sign = value < 0n ? "-" : "";
  const abs = (value < 0n ? -value : value).toString().padStart(feed.decimals + 1, "0");
  if (feed.decimals === 0) return `${sign}${abs}`;
  const int = abs.slice(0, -feed.decimals);
  const frac = abs.slice(-feed.decimals).replace(/0+$/, "");
  return frac ? `${sign}${int}.${frac}` : `${sign}${int}`;
}

/** A decimal number as digits × 10^exponent (digits signed). */
type Decimal = { digits: bigint; exponent: number };

function parseDecimal(text: string): Decimal | null {
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const [, sign, int = "", frac = "", exp = "0"] = m;
  const digits = BigInt(`${int}${frac}`) * (sign === "-" ? -1n : 1n);
  // Clamped: beyond ±10^6 the value is out of range or below any unit anyway (text is ≤ 100 chars).
  const exponent = Math.max(-1e6, Math.min(1e6, Number(exp))) - frac.length;
  return { digits, exponent };
}

function decimalText(input: unknown): string {
  if (typeof input === "number") {
    if (!Number.isFinite(input))
      throw new ReadingInputError("not_finite", `value ${input} is not a finite number`);
    return String(input);
  }
  if (typeof input === "string") {
    const t = input.trim();
    if (t.length > MAX_VALUE_CHARS)
      throw new ReadingInputError(
        "not_a_number",
        `value is ${t.length} characters long (at most ${MAX_VALUE_CHARS})`,
      );
    return t;
  }
  if (typeof input === "bigint") return input.toString();
  throw new ReadingInputError(
    "not_a_number",
    `value must be a number or a decimal string, not ${input === null ? "null" : Array.isArray(input) ? "a list" : typeof input}`,
  );
}

function roundHalfEven(q: bigint, r: bigint, unit: bigint): bigint {
  const away = r < 0n ? -1n : 1n;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice > unit || (twice === unit && q % 2n !== 0n)) return q + away;
  return q;
}

function digitCount(n: bigint): number {
  return (n < 0n ? -n : n).toString().length;
}

function tooPrecise(text: string, feed: FeedSpec): ReadingInputError {
  return new ReadingInputError(
    "too_precise",
    `value ${text} has more fraction digits than feed "${feed.name}" keeps (decimals ${feed.decimals}); round it at the source or set "rounding": "half-even"`,
  );
}

function outOfInt256(text: string, feed: FeedSpec): ReadingInputError {
  return new ReadingInputError(
    "out_of_range",
    `value ${text} does not fit int256 once scaled by 10^${feed.decimals} (feed "${feed.name}")`,
  );
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
