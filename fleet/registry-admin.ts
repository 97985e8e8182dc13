import type { Hex, PublicClient } from "viem";
import { certificateFingerprint } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import type { Wallet } from "../chain/clients.js";
import { Curve, type CurveName, SensorOracleError, splitPublicKey } from "../protocol/index.js";

/**
 * Registry administration: the one place a DeviceRegistry transaction (register, rotate, revoke,
 * revokeBatch) is built, sent with the fleet operator's account and waited for.
 */

/** The operator's wallet, a client to wait for receipts, and the registry's address. */
export type RegistryWriter = {
  wallet: Wallet;
  publicClient: PublicClient;
  registry: Hex;
};

/** What the registry records of a device: its id, curve, reading key and certificate. */
export type RegisteredDevice = {
  deviceId: Hex;
  curve: CurveName;
  readingPublicKey: Uint8Array;
  certPem: string;
};

export type RegistryReceipt = { hash: Hex; blockNumber: bigint; gasUsed: bigint };

async function send(
  w: RegistryWriter,
  what: string,
  request: { functionName: "register" | "rotate" | "revoke" | "revokeBatch"; args: readonly unknown[] },
): Promise<RegistryReceipt> {
  const hash = await w.wallet.writeContract({
    address: w.registry,
    abi: sensorOracleAbi,
    ...request,
    chain: w.wallet.chain,
    account: w.wallet.account,
  } as never);
  const receipt = await w.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new SensorOracleError(`${what} transaction ${hash} reverted.`);
  return { hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
}

/** The key arguments register and rotate share: id, curve, key coordinates, certificate fingerprint. */
function keyArgs(device: RegisteredDevice) {
  const { x, y } = splitPublicKey(device.readingPublicKey);
  return [device.deviceId, Curve[device.curve], x, y, certificateFingerprint(device.certPem)] as const;
}

/** Register a device: its readings are accepted from `validFrom` (unix seconds). */
export function registerDevice(
  w: RegistryWriter,
  device: RegisteredDevice,
  validFrom: number,
): Promise<RegistryReceipt> {
  return send(w, "Registration", { functionName: "register", args: [...keyArgs(device), validFrom] });
}

/** Give a device a new reading key and certificate, in force from `at` (unix seconds). */
export function rotateDevice(
  w: RegistryWriter,
  device: RegisteredDevice,
  at: number,
): Promise<RegistryReceipt> {
  return send(w, "Rotation", { functionName: "rotate", args: [...keyArgs(device), at] });
}

/** Revoke a device: its readings signed from `since` (unix seconds) are refused. */
export function revokeDevice(w: RegistryWriter, deviceId: Hex, since: number): Promise<RegistryReceipt> {
  return send(w, "Revocation", { functionName: "revoke", args: [deviceId, since] });
}

/**
 * Revoke many devices in one transaction, all from `since` (unix seconds). All or nothing: an
 * unknown or already revoked id reverts the whole batch, so leave those out before sending.
 */
export function revokeDevicesBatch(
  w: RegistryWriter,
  deviceIds: readonly Hex[],
  since: number,
): Promise<RegistryReceipt> {
  return send(w, "Batch revocation", { functionName: "revokeBatch", args: [deviceIds, since] });
}

/** Gas of `revokeBatch` for these devices, as the node estimates it (they must all be active). */
export function estimateRevokeBatchGas(
  w: RegistryWriter,
  deviceIds: readonly Hex[],
  since: number,
): Promise<bigint> {
  return w.publicClient.estimateContractGas({
    address: w.registry,
    abi: sensorOracleAbi,
    functionName: "revokeBatch",
    args: [deviceIds, since],
    account: w.wallet.account,
  });
}
