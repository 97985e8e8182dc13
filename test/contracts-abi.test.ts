import { readFileSync } from "node:fs";
import { type Abi, type AbiEvent, type AbiFunction, toEventSelector, toFunctionSelector } from "viem";
import { describe, expect, it } from "vitest";
import { deviceRegistryAbi, readingBatchesAbi } from "../chain/abi.js";

const artifact = (name: string): Abi =>
  JSON.parse(
    readFileSync(new URL(`../artifacts/contracts/${name}.sol/${name}.json`, import.meta.url), "utf8"),
  ).abi;

const selectors = (abi: Abi) =>
  new Set(
    abi.flatMap((item) =>
      item.type === "function"
        ? [toFunctionSelector(item as AbiFunction)]
        : item.type === "event"
          ? [toEventSelector(item as AbiEvent)]
          : [],
    ),
  );

describe("the bridge's hand-written ABIs", () => {
  it.each([
    ["DeviceRegistry", deviceRegistryAbi],
    ["SensorOracle", readingBatchesAbi],
  ] as const)("match the compiled %s", (name, abi) => {
    const compiled = selectors(artifact(name));
    const ours = [...selectors(abi as Abi)];
    expect(ours.length).toBeGreaterThan(3);
    expect(ours.filter((s) => !compiled.has(s))).toEqual([]);
  });
});
