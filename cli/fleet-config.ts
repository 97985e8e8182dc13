import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createPublicClient, createWalletClient, defineChain, type Hex, http, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readPrivateKey } from "../bridge/config.js";
import type { RegistryWriter } from "../fleet/registry-admin.js";
import { SensorOracleError } from "../protocol/index.js";

/** A fleet folder's fleet.json: written by `ca init`, read by every other fleet command. */
export type FleetConfig = {
  name: string;
  /** The bridge's HTTP API, where `device list` and `device status` look up the last reading seen. */
  bridgeUrl?: string;
  chain?: FleetChain;
};

export type FleetChain = { rpcUrl: string; chainId: number; registry: Hex; operatorKeyFile: string };

export function readFleet(dir: string): FleetConfig {
  const f = join(dir, "fleet.json");
  if (!existsSync(f))
    throw new SensorOracleError(`No fleet in ${dir}: run "sensor-oracle ca init --dir ${dir}" first.`);
  return JSON.parse(readFileSync(f, "utf8")) as FleetConfig;
}

/** The fleet chain's clients: the operator's wallet (registry administration) and a reader. */
export function registryWriter(cfg: FleetChain): RegistryWriter {
  const chain = defineChain({
    id: cfg.chainId,
    name: `chain-${cfg.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [cfg.rpcUrl] } },
  });
  const transport = http(cfg.rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient;
  const wallet = createWalletClient({
    chain,
    transport,
    account: privateKeyToAccount(readPrivateKey(cfg.operatorKeyFile)),
  });
  return { wallet, publicClient, registry: cfg.registry };
}
