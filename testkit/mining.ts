import { type PublicClient, testActions } from "viem";

/**
 * Switch a Hardhat chain from one block per transaction to one block every `ms` milliseconds, so
 * that a transaction waits for its block as on a real chain.
 */
export async function mineEvery(client: PublicClient, ms: number): Promise<void> {
  const test = client.extend(testActions({ mode: "hardhat" }));
  await test.setAutomine(false);
  // viem's Hardhat mode takes seconds (it sends evm_setIntervalMining in milliseconds).
  await test.setIntervalMining({ interval: ms / 1000 });
}
