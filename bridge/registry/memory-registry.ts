import type { Hex } from "viem";
import type { DeviceRegistryView, RegistryDevice } from "./types.js";

/** The in-memory twin of RegistryCache: records set by the caller (tests), always current. */
export class MemoryRegistry implements DeviceRegistryView {
  private readonly devices = new Map<Hex, RegistryDevice>();

  /** Register (or replace) a device's record. */
  set(deviceId: Hex, device: RegistryDevice): void {
    this.devices.set(deviceId, device);
  }

  /** Revoke a device from `since` (unix seconds). */
  revoke(deviceId: Hex, since: number): void {
    const d = this.devices.get(deviceId);
    if (!d) throw new Error(`device ${deviceId} is not registered`);
    this.devices.set(deviceId, { ...d, status: "revoked", revokedAt: since });
  }

  async get(deviceId: Hex): Promise<RegistryDevice | null> {
    return this.devices.get(deviceId) ?? null;
  }

  async refresh(deviceId: Hex, _since: number): Promise<RegistryDevice | null> {
    return this.get(deviceId);
  }

  watch(): () => void {
    return () => {};
  }
}
