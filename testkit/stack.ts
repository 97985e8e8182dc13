import { network } from "hardhat";
import type { Hex, PublicClient } from "viem";
import type { Wallet } from "../chain/clients.js";
import { deployFleet, type FleetContracts } from "../chain/deploy.js";
import { registerDevice as registerFleetDevice } from "../fleet/registry-admin.js";
import type { FleetCa, IssuedDevice } from "../pki/fleet-ca.js";
import { type CurveName, deviceIdToName, feedIdOf } from "../protocol/index.js";

export type { Wallet } from "../chain/clients.js";

export type Stack = {
  chainId: number;
  publicClient: PublicClient;
  admin: Wallet;
  operator: Wallet;
  submitter: Wallet;
  contracts: FleetContracts & { consumer: Hex };
  feedId: Hex;
  close(): Promise<void>;
};

/**
 * Deploy the fleet's contracts through its Ignition module (chain/deploy.ts: SensorOracle, the
 * registry and the batches in one contract, and SensorFeeds) and the ColdChainMonitor example on Hardhat's in-process chain, with
 * one admin, one fleet operator and one bridge submitter.
 */
export async function deployStack(params: { feed?: string; maxValue?: bigint } = {}): Promise<Stack> {
  const conn = await network.create();
  const { viem } = conn;
  const publicClient: PublicClient = await viem.getPublicClient();
  const [admin, operator, submitter]: Wallet[] = await viem.getWalletClients();
  if (!admin || !operator || !submitter) throw new Error("the in-process chain has fewer than 3 accounts");
  const fleet = await deployFleet({
    connection: conn,
    operator: operator.account.address,
    submitter: submitter.account.address,
  });
  const feedId = feedIdOf(params.feed ?? "cold-room-7/temperature");
  const consumer = await viem.deployContract("ColdChainMonitor", [
    fleet.oracle,
    feedId,
    params.maxValue ?? 800n,
  ]);
  return {
    chainId: await publicClient.getChainId(),
    publicClient,
    admin,
    operator,
    submitter,
    contracts: { ...fleet, consumer: consumer.address },
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
    registry: stack.contracts.oracle,
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
