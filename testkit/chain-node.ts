import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import {
  type Abi,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  publicActions,
  toBytes,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { freePort } from "./services.js";

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
  return createWalletClient({
    chain: hardhat,
    transport: http(url),
    account: privateKeyToAccount(DEV_KEYS.admin),
  }).extend(publicActions);
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
  const publicClient = createPublicClient({
    chain: hardhat,
    transport: http(url),
    pollingInterval: 200,
  }) as PublicClient;
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

function artifact(name: string): { abi: Abi; bytecode: Hex } {
  const a = JSON.parse(
    readFileSync(new URL(`../artifacts/contracts/${name}.sol/${name}.json`, import.meta.url), "utf8"),
  );
  return { abi: a.abi, bytecode: a.bytecode };
}

/** Deploy ReadingBatches (the registry too) with the admin key; operator = admin; submitter = DEV_KEYS.submitter. */
export async function deployOverHttp(node: ChainNode): Promise<{ registry: Hex; batches: Hex }> {
  const deploy = async (name: string, args: unknown[]) => {
    const { abi, bytecode } = artifact(name);
    const hash = await node.admin.deployContract({ abi, bytecode, args });
    const r = await node.admin.waitForTransactionReceipt({ hash });
    return r.contractAddress as Hex;
  };
  const admin = node.admin.account.address;
  const batches = await deploy("SensorOracle", [admin]);
  const registry = batches;
  const grant = async (address: Hex, role: string, to: Hex) => {
    const hash = await node.admin.writeContract({
      address,
      abi: artifact("DeviceRegistry").abi,
      functionName: "grantRole",
      args: [keccak256(toBytes(role)), to],
    });
    await node.admin.waitForTransactionReceipt({ hash });
  };
  await grant(registry, "OPERATOR_ROLE", admin);
  await grant(batches, "SUBMITTER_ROLE", privateKeyToAccount(DEV_KEYS.submitter).address);
  return { registry, batches };
}
