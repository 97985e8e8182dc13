import type { Hex } from "viem";
import { certificateFingerprint } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { Curve, SensorOracleError, splitPublicKey } from "../protocol/index.js";
import type { RegisteredDevice, RegistryWriter } from "./registry-admin.js";

/**
 * Registering many devices: `registerBatch` transactions sized to what one transaction may use
 * (the block gas limit, and the 2^24 per-transaction cap of EIP-7825 where the chain has it),
 * with the registry asked first which devices it already holds, so that a re-run registers
 * nobody twice.
 */

/** EIP-7825 (Osaka): no transaction may ask for more gas than this. */
export const TX_GAS_CAP = 16_777_216n;

export type PendingRegistration = { device: RegisteredDevice; validFrom: number };

export type RegisteredBatch = { hash: Hex; blockNumber: bigint; gasUsed: bigint; deviceIds: Hex[] };

const registration = ({ device, validFrom }: PendingRegistration) => {
  const { x, y } = splitPublicKey(device.readingPublicKey);
  return {
    deviceId: device.deviceId,
    curve: Curve[device.curve],
    x,
    y,
    certFingerprint: certificateFingerprint(device.certPem),
    validFrom,
  };
};

/** Which of these device ids the registry already holds (any status: active or revoked). */
export async function registeredOnChain(w: RegistryWriter, deviceIds: Hex[]): Promise<Set<Hex>> {
  const held = new Set<Hex>();
  const step = 50;
  for (let i = 0; i < deviceIds.length; i += step) {
    const slice = deviceIds.slice(i, i + step);
    const devices = await Promise.all(
      slice.map((id) =>
        w.publicClient.readContract({
          address: w.registry,
          abi: sensorOracleAbi,
          functionName: "getDevice",
          args: [id],
        }),
      ),
    );
    devices.forEach((d, j) => {
      if (d.status !== 0) held.add(slice[j] as Hex);
    });
  }
  return held;
}

/** Gas of `registerBatch` for these registrations, as the node estimates it. */
export function estimateBatchGas(w: RegistryWriter, batch: PendingRegistration[]): Promise<bigint> {
  return w.publicClient.estimateContractGas({
    address: w.registry,
    abi: sensorOracleAbi,
    functionName: "registerBatch",
    args: [batch.map(registration)],
    account: w.wallet.account,
  });
}

/**
 * How many devices one `registerBatch` may carry: from the estimate for one device and for a
 * few (the per-device cost), within 80% of the smaller of the block gas limit and TX_GAS_CAP.
 */
export async function batchSizeFor(
  w: RegistryWriter,
  sample: PendingRegistration[],
  max = 1_000,
): Promise<number> {
  if (sample.length <= 1) return Math.max(1, Math.min(sample.length, max));
  const k = Math.min(sample.length, 8);
  const [one, many, block] = await Promise.all([
    estimateBatchGas(w, sample.slice(0, 1)),
    estimateBatchGas(w, sample.slice(0, k)),
    w.publicClient.getBlock(),
  ]);
  const perDevice = (many - one) / BigInt(k - 1);
  const base = one - perDevice;
  const limit = ((block.gasLimit < TX_GAS_CAP ? block.gasLimit : TX_GAS_CAP) * 8n) / 10n;
  const fit = Number((limit - base) / (perDevice > 0n ? perDevice : 1n));
  return Math.max(1, Math.min(fit, max));
}

/** Send one `registerBatch` and wait for it; `onSent` hears the hash before the wait (for resuming). */
export async function registerBatch(
  w: RegistryWriter,
  batch: PendingRegistration[],
  onSent: (hash: Hex) => void = () => {},
): Promise<RegisteredBatch> {
  const hash = await w.wallet.writeContract({
    address: w.registry,
    abi: sensorOracleAbi,
    functionName: "registerBatch",
    args: [batch.map(registration)],
    chain: w.wallet.chain,
    account: w.wallet.account,
  });
  onSent(hash);
  const receipt = await w.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new SensorOracleError(`Batch registration ${hash} reverted.`);
  return {
    hash,
    blockNumber: receipt.blockNumber,
    gasUsed: receipt.gasUsed,
    deviceIds: batch.map((b) => b.device.deviceId),
  };
}
