import { readFileSync } from "node:fs";
import type { Abi, AbiParameter } from "viem";
import { toEventSelector, toFunctionSelector } from "viem";
import { describe, expect, it } from "vitest";
import {
  sensorFeedAggregatorAbi,
  sensorFeedsReaderAbi,
  sensorOracleConsumerAbi,
} from "../../consumer/abi.js";

// The consumer kit (contracts/interfaces/ISensorOracle.sol, ISensorFeedsReader.sol,
// ISensorFeedAggregator.sol, and their mocks) is standalone: nothing ties it to the implementation
// but this test. Every function, event and error an interface declares must exist in the deployed
// contract's ABI with the same selector and the same outputs, so a change to either fails here.

const artifact = (path: string): Abi =>
  (
    JSON.parse(readFileSync(new URL(`../../artifacts/contracts/${path}`, import.meta.url), "utf8")) as {
      abi: Abi;
    }
  ).abi;

/** A parameter's canonical ABI type, tuples expanded: what selectors are computed over. */
const canonical = (p: AbiParameter): string => {
  if (!p.type.startsWith("tuple")) return p.type;
  const inner = (p as { components: readonly AbiParameter[] }).components.map(canonical).join(",");
  return `(${inner})${p.type.slice("tuple".length)}`;
};

type Entry = { kind: string; signature: string; selector: string; shape: string };

/** Each function, event and error of an ABI, by selector, with what must also agree (outputs, indexed
 * flags; pure and view alike, as callers see them). */
function entries(abi: Abi): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const item of abi) {
    if (item.type !== "function" && item.type !== "event" && item.type !== "error") continue;
    const signature = `${item.name}(${item.inputs.map(canonical).join(",")})`;
    const selector =
      item.type === "event"
        ? toEventSelector(`event ${signature}`)
        : toFunctionSelector(`function ${signature}`);
    const shape =
      item.type === "function"
        ? `${item.stateMutability === "pure" ? "view" : item.stateMutability} returns (${item.outputs.map(canonical).join(",")})`
        : item.type === "event"
          ? item.inputs.map((p) => ((p as { indexed?: boolean }).indexed ? "indexed" : "-")).join(",")
          : "";
    out.set(`${item.type}:${selector}`, { kind: item.type, signature, selector, shape });
  }
  return out;
}

/** What an interface declares that the implementation lacks or declares differently. */
function drift(iface: Abi, impl: Abi): string[] {
  const have = entries(impl);
  return [...entries(iface).values()].flatMap((e) => {
    const other = have.get(`${e.kind}:${e.selector}`);
    if (!other) return [`${e.kind} ${e.signature} (${e.selector}) is missing`];
    if (other.shape !== e.shape)
      return [`${e.kind} ${e.signature}: ${e.shape} here, ${other.shape} deployed`];
    return [];
  });
}

const oracle = artifact("SensorOracle.sol/SensorOracle.json");
const feeds = artifact("SensorFeeds.sol/SensorFeeds.json");
const aggregator = artifact("SensorFeedAggregator.sol/SensorFeedAggregator.json");

describe("the consumer kit's interfaces against the deployed contracts' ABIs", () => {
  it("ISensorOracle: every function, event and error is SensorOracle's, with the same selector and outputs", () => {
    const iface = artifact("interfaces/ISensorOracle.sol/ISensorOracle.json");
    expect(entries(iface).size).toBeGreaterThanOrEqual(9);
    expect(drift(iface, oracle)).toEqual([]);
  });

  it("ISensorFeedsReader: every function, event and error is SensorFeeds'", () => {
    const iface = artifact("interfaces/ISensorFeedsReader.sol/ISensorFeedsReader.json");
    expect(entries(iface).size).toBeGreaterThanOrEqual(10);
    expect(drift(iface, feeds)).toEqual([]);
  });

  it("ISensorFeedAggregator: every function is SensorFeedAggregator's (AggregatorV3Interface and feedId)", () => {
    const iface = artifact("interfaces/ISensorFeedAggregator.sol/ISensorFeedAggregator.json");
    expect([...entries(iface).values()].map((e) => e.signature.split("(")[0]).sort()).toEqual([
      "decimals",
      "description",
      "feedId",
      "getRoundData",
      "latestRoundData",
      "version",
    ]);
    expect(drift(iface, aggregator)).toEqual([]);
  });

  it("the mocks declare everything their interfaces declare, identically", () => {
    const pairs: [string, string][] = [
      ["interfaces/ISensorOracle.sol/ISensorOracle.json", "mocks/MockSensorOracle.sol/MockSensorOracle.json"],
      [
        "interfaces/ISensorFeedsReader.sol/ISensorFeedsReader.json",
        "mocks/MockSensorFeeds.sol/MockSensorFeeds.json",
      ],
      [
        "interfaces/ISensorFeedAggregator.sol/ISensorFeedAggregator.json",
        "mocks/MockSensorFeed.sol/MockSensorFeed.json",
      ],
    ];
    for (const [iface, mock] of pairs) expect(drift(artifact(iface), artifact(mock))).toEqual([]);
  });

  it("the TypeScript client's ABIs are the compiled interfaces", () => {
    expect(sensorOracleConsumerAbi).toEqual(artifact("interfaces/ISensorOracle.sol/ISensorOracle.json"));
    expect(sensorFeedsReaderAbi).toEqual(
      artifact("interfaces/ISensorFeedsReader.sol/ISensorFeedsReader.json"),
    );
    expect(sensorFeedAggregatorAbi).toEqual(
      artifact("interfaces/ISensorFeedAggregator.sol/ISensorFeedAggregator.json"),
    );
  });

  it("reports a changed parameter, a changed return type and a missing error", () => {
    const iface = artifact("interfaces/ISensorOracle.sol/ISensorOracle.json");
    const bent = oracle.map((item) => {
      if (item.type === "function" && item.name === "verifyReading")
        return { ...item, inputs: item.inputs.map((p, i) => (i === 1 ? { ...p, type: "bytes32" } : p)) };
      if (item.type === "function" && item.name === "tryVerifyReading")
        return { ...item, outputs: [{ name: "ok", type: "uint256", internalType: "uint256" }] };
      return item;
    }) as Abi;
    const withoutError = bent.filter(
      (i) => !(i.type === "error" && i.name === "ReadingBatchesUnknownBatch"),
    ) as Abi;
    const found = drift(iface, withoutError);
    expect(found).toHaveLength(3);
    expect(found.join("\n")).toMatch(/verifyReading\(.*missing/);
    expect(found.join("\n")).toMatch(/tryVerifyReading.*uint256\) deployed/);
    expect(found.join("\n")).toMatch(/ReadingBatchesUnknownBatch\(bytes32\).*missing/);
  });
});
