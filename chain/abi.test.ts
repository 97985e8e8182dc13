import { describe, expect, it } from "vitest";
import { ABI_CONTRACTS, abiExportName, compiledAbis } from "../scripts/gen-abi.js";
import * as generated from "./abi.generated.js";
import * as exported from "./abi.js";

describe("chain/abi.generated.ts", () => {
  const compiled = compiledAbis();

  it("holds one ABI per contract in ABI_CONTRACTS and nothing else", () => {
    expect(Object.keys(generated).sort()).toEqual(ABI_CONTRACTS.map(abiExportName).sort());
  });

  it.each(ABI_CONTRACTS)("holds the compiled ABI of %s (else: npx hardhat build && npm run abi)", (name) => {
    const abi = (generated as Record<string, unknown>)[abiExportName(name)];
    expect(abi).toEqual(compiled[name]);
  });

  it("is what chain/abi.ts exports", () => {
    for (const [name, abi] of Object.entries(exported)) {
      expect(abi).toBe((generated as Record<string, unknown>)[name]);
    }
    expect(Object.keys(exported).sort()).toEqual(Object.keys(generated).sort());
  });
});
