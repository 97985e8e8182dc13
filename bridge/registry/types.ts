import type { Hex } from "viem";
import type { CurveName } from "../../protocol/index.js";

export type RegistryKey = { curve: CurveName; publicKey: Uint8Array; validFrom: number; validUntil: number };

export type RegistryDevice = {
  curve: CurveName;
  status: "active" | "revoked";
  validFrom: number;
  revokedAt: number;
  publicKey: Uint8Array;
  certFingerprint: Hex;
  /** Keys replaced by rotation, oldest first. */
  pastKeys: RegistryKey[];
};

/**
 * What the bridge knows of the DeviceRegistry: RegistryCache (chain-registry.ts) reads it from the
 * chain, MemoryRegistry (memory-registry.ts) holds it in memory for tests.
 */
export interface DeviceRegistryView {
  /** The device's record (possibly cached), or null when it is not registered. */
  get(deviceId: Hex): Promise<RegistryDevice | null>;
  /** The record as the registry has it now, unless it was read after `since` (ms). */
  refresh(deviceId: Hex, since: number): Promise<RegistryDevice | null>;
  /** Follow changes (revocations, rotations) as they happen; returns the function that stops following. */
  watch(): () => void;
  /**
   * Learn every change made up to the chain's head now (its revocation and rotation events), so
   * that the next `get` of a changed device reads it again. Absent where records are always current.
   */
  sync?(): Promise<void>;
}

/** The key valid for a reading at `timestamp` (current or past), or null. Revocation is checked apart. */
export function keyAt(d: RegistryDevice, timestamp: number): (RegistryKey & { current: boolean }) | null {
  if (timestamp >= d.validFrom) {
    return {
      curve: d.curve,
      publicKey: d.publicKey,
      validFrom: d.validFrom,
      validUntil: Number.MAX_SAFE_INTEGER,
      current: true,
    };
  }
  for (let i = d.pastKeys.length - 1; i >= 0; i--) {
    const k = d.pastKeys[i] as RegistryKey;
    if (timestamp >= k.validUntil) return null;
    if (timestamp >= k.validFrom) return { ...k, current: false };
  }
  return null;
}
