import type { Hex, PublicClient } from "viem";
import type { CurveName } from "../protocol/index.js";
import { deviceRegistryAbi } from "./abi.js";

export type RegistryDevice = {
  curve: CurveName;
  status: "active" | "revoked";
  validFrom: number;
  revokedAt: number;
  publicKey: Uint8Array;
  certFingerprint: Hex;
};

/**
 * Read-through cache of DeviceRegistry records. A record is re-read after `ttlMs`, which bounds
 * how long a revocation takes to reach the bridge (the event-following path is a later issue).
 */
export class RegistryCache {
  private readonly cache = new Map<Hex, { at: number; device: RegistryDevice | null }>();
  private readonly inflight = new Map<Hex, Promise<RegistryDevice | null>>();

  constructor(
    private readonly client: PublicClient,
    private readonly address: Hex,
    private readonly ttlMs = 5_000,
  ) {}

  /**
   * Follow the registry's DeviceRevoked and DeviceKeyRotated events and drop the cached record
   * at once, so a revocation reaches the bridge within one polling interval instead of the TTL.
   * Returns the function that stops following.
   */
  watch(pollingIntervalMs = 1_000): () => void {
    return this.client.watchContractEvent({
      address: this.address,
      abi: deviceRegistryAbi,
      pollingInterval: pollingIntervalMs,
      onLogs: (logs) => {
        for (const log of logs) {
          if (log.eventName === "DeviceRevoked" || log.eventName === "DeviceKeyRotated") {
            this.cache.delete(log.args.deviceId as Hex);
          }
        }
      },
      onError: () => {
        // The TTL still bounds staleness while the endpoint is unreachable.
      },
    });
  }

  async get(deviceId: Hex): Promise<RegistryDevice | null> {
    const hit = this.cache.get(deviceId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.device;
    let p = this.inflight.get(deviceId);
    if (!p) {
      p = this.read(deviceId)
        .catch((err: unknown) => {
          // The RPC endpoint is unreachable: keep serving what we last read (a revocation made
          // meanwhile reaches us when it is back); a device never read before cannot be checked.
          if (hit) return hit.device;
          throw err;
        })
        .finally(() => this.inflight.delete(deviceId));
      this.inflight.set(deviceId, p);
    }
    return p;
  }

  private async read(deviceId: Hex): Promise<RegistryDevice | null> {
    const d = await this.client.readContract({
      address: this.address,
      abi: deviceRegistryAbi,
      functionName: "getDevice",
      args: [deviceId],
    });
    const device: RegistryDevice | null =
      d.status === 0
        ? null
        : {
            curve: d.curve === 1 ? "secp256k1" : "p256",
            status: d.status === 1 ? "active" : "revoked",
            validFrom: d.validFrom,
            revokedAt: d.revokedAt,
            publicKey: Buffer.concat([
              Buffer.from([4]),
              Buffer.from(d.x.slice(2), "hex"),
              Buffer.from(d.y.slice(2), "hex"),
            ]),
            certFingerprint: d.certFingerprint,
          };
    this.cache.set(deviceId, { at: Date.now(), device });
    return device;
  }
}
