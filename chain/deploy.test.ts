import { network } from "hardhat";
import { keccak256, toBytes } from "viem";
import { describe, expect, it } from "vitest";
import { sensorFeedsAbi, sensorOracleAbi } from "./abi.js";
import { deployFleet } from "./deploy.js";

describe("deployFleet (the fleet's Ignition module)", () => {
  it("deploys the batches contract (the registry too) and the feeds, and grants the operator and submitter roles", async () => {
    const connection = await network.create();
    try {
      const [admin, operator, submitter] = await connection.viem.getWalletClients();
      if (!admin || !operator || !submitter) throw new Error("fewer than 3 accounts");
      const publicClient = await connection.viem.getPublicClient();
      const fleet = await deployFleet({
        connection,
        operator: operator.account.address,
        submitter: submitter.account.address,
      });
      const hasRole = (role: string, account: `0x${string}`) =>
        publicClient.readContract({
          address: fleet.oracle,
          abi: sensorOracleAbi,
          functionName: "hasRole",
          args: [keccak256(toBytes(role)), account],
        });
      expect(await hasRole("OPERATOR_ROLE", operator.account.address)).toBe(true);
      expect(await hasRole("SUBMITTER_ROLE", submitter.account.address)).toBe(true);
      expect(await hasRole("SUBMITTER_ROLE", operator.account.address)).toBe(false);
      expect(
        await publicClient.readContract({
          address: fleet.feeds,
          abi: sensorFeedsAbi,
          functionName: "registry",
        }),
      ).toBe(fleet.oracle);
    } finally {
      await connection.close();
    }
  });
});
