import type { Hex, PublicClient } from "viem";
import { sensorOracleAbi } from "../../chain/abi.js";
import { curveOf } from "../../protocol/index.js";
import type { DeviceRegistryView, RegistryDevice, RegistryKey } from "./types.js";

const point = (x: Hex, y: Hex) =>
  Buffer.concat([Buffer.from([4]), Buffer.from(x.slice(2), "hex"), Buffer.from(y.slice(2), "hex")]);

/**
 * Read-through cache of DeviceRegistry records. A record is re-read after `ttlMs`, which bounds
 * how long a revocation takes to reach the bridge (the event-following path is a later issue).
 */
export class RegistryCache implements DeviceRegistryView {
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
      abi: sensorOracleAbi,
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

  /**
   * The record as the chain has it now, unless it was read after `since` (ms; a message received
   * at `since` cannot be newer than that read). The bridge's per-device rate limit bounds how often
   * a device sending bad signatures can cause a read. The cached record if the chain is unreachable.
   */
  async refresh(deviceId: Hex, since: number): Promise<RegistryDevice | null> {
    const hit = this.cache.get(deviceId);
    if (hit && hit.at <= since) hit.at = 0;
    return this.get(deviceId);
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
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [deviceId],
    });
    let device: RegistryDevice | null = null;
    if (d.status !== 0) {
      const count = await this.client.readContract({
        address: this.address,
        abi: sensorOracleAbi,
        functionName: "pastKeyCount",
        args: [deviceId],
      });
      const pastKeys: RegistryKey[] = [];
      for (let i = 0n; i < count; i++) {
        const [curve, x, y, validFrom, validUntil] = await this.client.readContract({
          address: this.address,
          abi: sensorOracleAbi,
          functionName: "getPastKey",
          args: [deviceId, i],
        });
        pastKeys.push({
          curve: curveOf(curve),
          publicKey: point(x, y),
          validFrom,
          validUntil,
        });
      }
      device = {
        curve: curveOf(d.curve),
        status: d.status === 1 ? "active" : "revoked",
        validFrom: d.validFrom,
        revokedAt: d.revokedAt,
        publicKey: point(d.x, d.y),
        certFingerprint: d.certFingerprint,
        pastKeys,
      };
    }
    this.cache.set(deviceId, { at: Date.now(), device });
    return device;
  }
}
