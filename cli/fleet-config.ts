import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { readPrivateKey } from "../bridge/config.js";
import { createChainClients } from "../chain/clients.js";
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
  const { publicClient, walletClient } = createChainClients({
    chainId: cfg.chainId,
    rpcUrl: cfg.rpcUrl,
    privateKey: readPrivateKey(cfg.operatorKeyFile),
    pollingInterval: 250,
  });
  return { wallet: walletClient, publicClient, registry: cfg.registry };
}
