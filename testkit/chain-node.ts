import { type ChildProcess, spawn } from "node:child_process";
import { realpathSync, rmdirSync, rmSync } from "node:fs";
import { network } from "hardhat";
import { type Hex, type PublicClient, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { createChainClients } from "../chain/clients.js";
import { deployFleet, type FleetContracts } from "../chain/deploy.js";
import { freePort } from "./ports.js";

/** Hardhat node's well-known development keys (public test keys, hold only test ETH). */
export const DEV_KEYS = {
  admin: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  submitter: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
} as const satisfies Record<string, Hex>;

export type ChainNode = {
  url: string;
  publicClient: PublicClient;
  admin: ReturnType<typeof adminClient>;
  stop(): void;
};

function adminClient(url: string) {
  const { walletClient } = createChainClients({
    chainId: hardhat.id,
    rpcUrl: url,
    privateKey: DEV_KEYS.admin,
  });
  return walletClient.extend(publicActions);
}

/** `hardhat node` on a free port, reachable over HTTP like a real RPC endpoint. */
export async function startHardhatNode(): Promise<ChainNode> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Hardhat's CLI run by Node itself (not through npx), so that stopping it stops the node.
  const cli = realpathSync(new URL("../node_modules/.bin/hardhat", import.meta.url));
  const node: ChildProcess = spawn(process.execPath, [cli, "node", "--port", String(port)], {
    stdio: "ignore",
  });
  const { publicClient } = createChainClients({
    chainId: hardhat.id,
    rpcUrl: url,
    privateKey: DEV_KEYS.admin,
    pollingInterval: 200,
  });
  for (let i = 0; ; i++) {
    try {
      await publicClient.getChainId();
      break;
    } catch (err) {
      if (i > 300) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, publicClient, admin: adminClient(url), stop: () => node.kill("SIGTERM") };
}

/**
 * Deploy the fleet's contracts on the node through their Ignition module (chain/deploy.ts), over
 * HTTP as `hardhat ignition deploy --network localhost` does: the admin (the node's first account)
 * deploys and is the operator; DEV_KEYS.submitter is the submitter.
 */
export async function deployOverHttp(node: ChainNode): Promise<FleetContracts> {
  const connection = await network.create({ network: "localhost", override: { url: node.url } });
  // Ignition journals deployments over HTTP in ignition/deployments/<id>: one of its own, removed after.
  const deploymentId = `testkit-${new URL(node.url).port}-${process.pid}`;
  const deployments = new URL("../ignition/deployments/", import.meta.url);
  try {
    return await deployFleet({
      connection,
      submitter: privateKeyToAccount(DEV_KEYS.submitter).address,
      deploymentId,
    });
  } finally {
    rmSync(new URL(deploymentId, deployments), { recursive: true, force: true });
    try {
      rmdirSync(deployments); // only when no other deployment is in it
    } catch {}
    await connection.close();
  }
}
