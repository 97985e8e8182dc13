import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { chainOf, createChainClients } from "./clients.js";

const KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"; // Hardhat's public dev key #2

describe("createChainClients", () => {
  it("builds both clients on a chain with the given id and RPC URL, the wallet signing with the given key", () => {
    const { chain, publicClient, walletClient } = createChainClients({
      chainId: 11155111,
      rpcUrl: "http://127.0.0.1:1/rpc",
      privateKey: KEY,
      pollingInterval: 250,
    });
    expect(chain.id).toBe(11155111);
    expect(chain.rpcUrls.default.http).toEqual(["http://127.0.0.1:1/rpc"]);
    expect(publicClient.chain?.id).toBe(11155111);
    expect(publicClient.pollingInterval).toBe(250);
    expect(walletClient.chain.id).toBe(11155111);
    expect(walletClient.account.address).toBe(privateKeyToAccount(KEY).address);
  });

  it("names any chain id with 18-decimal Ether", () => {
    expect(chainOf(31337, "http://127.0.0.1:8545")).toMatchObject({
      id: 31337,
      name: "chain-31337",
      nativeCurrency: { decimals: 18, symbol: "ETH" },
    });
  });
});
