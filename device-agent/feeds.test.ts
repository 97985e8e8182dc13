import { describe, expect, it } from "vitest";
import { feedIdOf, INT256_MAX } from "../protocol/index.js";
import { FeedConfigError, ReadingInputError } from "./errors.js";
import { type FeedSpec, feedOf, formatOnChainValue, onChainValue, parseFeed, parseFeeds } from "./feeds.js";

const feed = (config: Record<string, unknown>): FeedSpec => parseFeed({ name: "temperature", ...config });

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ReadingInputError) return err.reason;
    throw err;
  }
  throw new Error("expected a ReadingInputError");
}

function configKeyOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FeedConfigError) return err.key;
    throw err;
  }
  throw new Error("expected a FeedConfigError");
}

describe("feeds: config", () => {
  it("reads a device's feeds with defaults: decimals 0, feed id keccak256(name), refuse rounding", () => {
    const feeds = parseFeeds([
      { name: "temperature", decimals: 3, unit: "°C", min: -55, max: "125" },
      { name: "humidity", scale: "0.01" },
      "door",
    ]);
    expect([...feeds.keys()]).toEqual(["temperature", "humidity", "door"]);
    expect(feeds.get("temperature")).toEqual({
      name: "temperature",
      feedId: feedIdOf("temperature"),
      decimals: 3,
      unit: "°C",
      min: -55_000n,
      max: 125_000n,
      rounding: "refuse",
    });
    expect(feeds.get("humidity")?.decimals).toBe(2);
    expect(feeds.get("door")?.decimals).toBe(0);
  });

  it("takes a configured feed id instead of keccak256(name)", () => {
    const id = `0x${"ab".repeat(32)}`;
    expect(feed({ feedId: id }).feedId).toBe(id);
  });

  it("names the offending key of a bad feeds section", () => {
    expect(configKeyOf(() => parseFeeds([]))).toBe("feeds");
    expect(configKeyOf(() => parseFeeds({ temperature: {} }))).toBe("feeds");
    expect(configKeyOf(() => parseFeeds([{ name: "t" }, 5]))).toBe("feeds[1]");
    expect(configKeyOf(() => parseFeeds([{ name: "" }]))).toBe("feeds[0].name");
    expect(configKeyOf(() => parseFeeds([{ name: "a b" }]))).toBe("feeds[0].name");
    expect(configKeyOf(() => parseFeeds([{ name: "t" }, { name: "t" }]))).toBe("feeds[1].name");
    expect(configKeyOf(() => parseFeeds([{ name: "t", decimal: 3 }]))).toBe("feeds[0].decimal");
    expect(configKeyOf(() => parseFeeds([{ name: "t", decimals: 1.5 }]))).toBe("feeds[0].decimals");
    expect(configKeyOf(() => parseFeeds([{ name: "t", decimals: 78 }]))).toBe("feeds[0].decimals");
    expect(configKeyOf(() => parseFeeds([{ name: "t", decimals: -1 }]))).toBe("feeds[0].decimals");
    expect(configKeyOf(() => parseFeeds([{ name: "t", scale: 0.002 }]))).toBe("feeds[0].scale");
    expect(configKeyOf(() => parseFeeds([{ name: "t", scale: 10 }]))).toBe("feeds[0].scale");
    expect(configKeyOf(() => parseFeeds([{ name: "t", scale: 0.1, decimals: 1 }]))).toBe("feeds[0].scale");
    expect(configKeyOf(() => parseFeeds([{ name: "t", min: "cold" }]))).toBe("feeds[0].min");
    expect(configKeyOf(() => parseFeeds([{ name: "t", max: 1.5 }]))).toBe("feeds[0].max");
    expect(configKeyOf(() => parseFeeds([{ name: "t", min: 5, max: 4 }]))).toBe("feeds[0].min");
    expect(configKeyOf(() => parseFeeds([{ name: "t", rounding: "up" }]))).toBe("feeds[0].rounding");
    expect(configKeyOf(() => parseFeeds([{ name: "t", feedId: "0x12" }]))).toBe("feeds[0].feedId");
    expect(configKeyOf(() => parseFeeds([{ name: "a", feedId: feedIdOf("b") }, { name: "b" }]))).toBe(
      "feeds[1].feedId",
    );
  });

  it("accepts scale written with trailing zeros and as 1", () => {
    expect(feed({ scale: "0.0010" }).decimals).toBe(3);
    expect(feed({ scale: 1 }).decimals).toBe(0);
  });
});

describe("feeds: values to on-chain integers", () => {
  const t3 = feed({ decimals: 3 });

  it("scales decimal strings and numbers exactly", () => {
    expect(onChainValue(t3, "21.375")).toBe(21_375n);
    expect(onChainValue(t3, 21.375)).toBe(21_375n);
    expect(onChainValue(t3, " -4 ")).toBe(-4_000n);
    expect(onChainValue(t3, "2.5e-2")).toBe(25n);
    expect(onChainValue(t3, "21.3750000")).toBe(21_375n);
    expect(onChainValue(t3, 0.1)).toBe(100n);
    expect(onChainValue(t3, -0)).toBe(0n);
    // 1e21 prints as "1e+21": exact, no float on the way.
    expect(onChainValue(t3, 1e21)).toBe(10n ** 24n);
    // A number beyond 2^53 written as a string keeps every digit.
    expect(onChainValue(feed({}), "123456789012345678901234567890")).toBe(123456789012345678901234567890n);
  });

  it("reads a number through its shortest decimal form, so float noise is refused, not rounded silently", () => {
    expect(reasonOf(() => onChainValue(t3, 0.1 + 0.2))).toBe("too_precise");
    expect(onChainValue(feed({ decimals: 3, rounding: "half-even" }), 0.1 + 0.2)).toBe(300n);
  });

  it("refuses more fraction digits than the feed keeps, or rounds half to even when told", () => {
    expect(reasonOf(() => onChainValue(t3, "21.3755"))).toBe("too_precise");
    expect(reasonOf(() => onChainValue(t3, "1e-400"))).toBe("too_precise");
    const r = feed({ decimals: 3, rounding: "half-even" });
    expect(onChainValue(r, "21.3755")).toBe(21_376n);
    expect(onChainValue(r, "21.3745")).toBe(21_374n);
    expect(onChainValue(r, "21.37451")).toBe(21_375n);
    expect(onChainValue(r, "-21.3755")).toBe(-21_376n);
    expect(onChainValue(r, "-21.3745")).toBe(-21_374n);
    expect(onChainValue(r, "1e-400")).toBe(0n);
  });

  it("takes integers in implied decimals (milli-degrees from a 1-Wire sensor)", () => {
    expect(onChainValue(t3, "21375", { impliedDecimals: 3 })).toBe(21_375n);
    expect(onChainValue(feed({ decimals: 1, rounding: "half-even" }), "21375", { impliedDecimals: 3 })).toBe(
      214n,
    );
    expect(reasonOf(() => onChainValue(feed({ decimals: 1 }), "21375", { impliedDecimals: 3 }))).toBe(
      "too_precise",
    );
  });

  it("refuses what is not a number, not finite, out of the feed's range or of int256", () => {
    for (const bad of [
      "",
      "abc",
      "21,5",
      "0x10",
      "1.",
      ".5",
      "1e",
      "--1",
      "12 13",
      true,
      null,
      {},
      [1],
      undefined,
    ]) {
      expect(reasonOf(() => onChainValue(t3, bad))).toBe("not_a_number");
    }
    expect(reasonOf(() => onChainValue(t3, "9".repeat(101)))).toBe("not_a_number");
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      "NaN",
      "-Infinity",
      "inf",
    ]) {
      expect(reasonOf(() => onChainValue(t3, bad))).toBe("not_finite");
    }
    const ranged = feed({ decimals: 1, min: "-10.5", max: 40 });
    expect(onChainValue(ranged, "-10.5")).toBe(-105n);
    expect(onChainValue(ranged, 40)).toBe(400n);
    expect(reasonOf(() => onChainValue(ranged, "-10.6"))).toBe("out_of_range");
    expect(reasonOf(() => onChainValue(ranged, "40.1"))).toBe("out_of_range");
    const wide = feed({});
    expect(onChainValue(wide, INT256_MAX.toString())).toBe(INT256_MAX);
    expect(reasonOf(() => onChainValue(wide, (INT256_MAX + 1n).toString()))).toBe("out_of_range");
    expect(reasonOf(() => onChainValue(wide, "1e999999999"))).toBe("out_of_range");
  });

  it("names the feed's range in the error", () => {
    const ranged = feed({ decimals: 1, min: "-10.5", max: 40, unit: "°C" });
    expect(() => onChainValue(ranged, 99)).toThrow(/\[-10\.5, 40\] °C/);
  });

  it("looks a feed up by name, refusing unknown and non-string names", () => {
    const feeds = parseFeeds([{ name: "temperature" }]);
    expect(feedOf(feeds, "temperature").name).toBe("temperature");
    expect(reasonOf(() => feedOf(feeds, "pressure"))).toBe("unknown_feed");
    expect(reasonOf(() => feedOf(feeds, 7))).toBe("malformed");
  });

  it("writes on-chain integers back in the feed's unit", () => {
    expect(formatOnChainValue({ decimals: 3 }, 21_375n)).toBe("21.375");
    expect(formatOnChainValue({ decimals: 3 }, -5n)).toBe("-0.005");
    expect(formatOnChainValue({ decimals: 2 }, 2_100n)).toBe("21");
    expect(formatOnChainValue({ decimals: 0 }, -7n)).toBe("-7");
  });
});
