import { network } from "hardhat";
import {
  type Account,
  type Chain,
  type Hex,
  keccak256,
  type PublicClient,
  type Transport,
  toBytes,
  type WalletClient,
} from "viem";
import { deviceRegistryAbi, readingBatchesAbi } from "../chain/abi.js";
import { registerDevice as registerFleetDevice } from "../fleet/registry-admin.js";
import type { FleetCa, IssuedDevice } from "../pki/fleet-ca.js";
import { type CurveName, deviceIdToName, feedIdOf } from "../protocol/index.js";

export type Wallet = WalletClient<Transport, Chain | undefined, Account>;

export type Stack = {
  chainId: number;
  publicClient: PublicClient;
  admin: Wallet;
  operator: Wallet;
  submitter: Wallet;
  contracts: { registry: Hex; batches: Hex; consumer: Hex; feeds: Hex };
  feedId: Hex;
  close(): Promise<void>;
};

/**
 * Deploy ReadingBatches (the fleet's DeviceRegistry too: `contracts.registry` and
 * `contracts.batches` are one address), SensorFeeds and the ColdChainMonitor example on Hardhat's
 * in-process chain, with one admin, one fleet operator and one bridge submitter.
 */
export async function deployStack(params: { feed?: string; maxValue?: bigint } = {}): Promise<Stack> {
  const conn = await network.create();
  const { viem } = conn;
  const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
  const [admin, operator, submitter] = (await viem.getWalletClients()) as unknown as Wallet[];
  if (!admin || !operator || !submitter) throw new Error("the in-process chain has fewer than 3 accounts");
  const batches = await viem.deployContract("ReadingBatches", [admin.account.address]);
  const registry = batches;
  const feedId = feedIdOf(params.feed ?? "cold-room-7/temperature");
  const consumer = await viem.deployContract("ColdChainMonitor", [
    batches.address,
    feedId,
    params.maxValue ?? 800n,
  ]);
  const feeds = await viem.deployContract("SensorFeeds", [registry.address, admin.account.address]);
  const grant = async (
    address: Hex,
    abi: typeof deviceRegistryAbi | typeof readingBatchesAbi,
    role: Hex,
    to: Hex,
  ) => {
    const hash = await admin.writeContract({
      address,
      abi,
      functionName: "grantRole",
      args: [role, to],
      chain: admin.chain,
      account: admin.account,
    });
    await publicClient.waitForTransactionReceipt({ hash });
  };
  await grant(
    registry.address,
    deviceRegistryAbi,
    keccak256(toBytes("OPERATOR_ROLE")),
    operator.account.address,
  );
  await grant(
    batches.address,
    readingBatchesAbi,
    keccak256(toBytes("SUBMITTER_ROLE")),
    submitter.account.address,
  );
  return {
    chainId: await publicClient.getChainId(),
    publicClient,
    admin,
    operator,
    submitter,
    contracts: {
      registry: registry.address,
      batches: batches.address,
      consumer: consumer.address,
      feeds: feeds.address,
    },
    feedId,
    close: () => conn.close(),
  };
}

/** Register an issued device on-chain: its reading key, curve and certificate fingerprint. */
export async function registerDevice(
  stack: Stack,
  device: Pick<IssuedDevice, "curve" | "deviceId" | "certPem" | "readingPublicKey">,
  validFrom?: number,
): Promise<Hex> {
  const writer = {
    wallet: stack.operator,
    publicClient: stack.publicClient,
    registry: stack.contracts.registry,
  };
  return (await registerFleetDevice(writer, device, validFrom ?? Math.floor(Date.now() / 1000) - 3600)).hash;
}

/** Issue a certificate and register the device: what enrolment does, with a software key. */
export async function enrollDevice(
  stack: Stack,
  ca: FleetCa,
  curve: CurveName,
  opts: { register?: boolean } = {},
): Promise<IssuedDevice> {
  const device = await ca.issueDevice({ curve });
  if (opts.register ?? true) await registerDevice(stack, device);
  if (deviceIdToName(device.deviceId) !== device.name) throw new Error("device name mismatch");
  return device;
}
