import type { Hex, PublicClient } from "viem";
import { sensorOracleAbi } from "../../chain/abi.js";
import { curveOf } from "../../protocol/index.js";
import type { DeviceRegistryView, RegistryDevice, RegistryKey } from "./types.js";

const point = (x: Hex, y: Hex) =>
  Buffer.concat([Buffer.from([4]), Buffer.from(x.slice(2), "hex"), Buffer.from(y.slice(2), "hex")]);

/** The registry events after which a cached record is read again. */
const CHANGE_EVENTS = sensorOracleAbi.filter(
  (item) => item.type === "event" && (item.name === "DeviceRevoked" || item.name === "DeviceKeyRotated"),
);

/** Past this many blocks behind, the cache is dropped whole instead of reading the logs between. */
const MAX_LOG_RANGE = 5_000n;

/**
 * Read-through cache of DeviceRegistry records. A record is re-read after `ttlMs`; a revocation or
 * rotation reaches the bridge sooner through the registry's events: `sync` reads them up to the
 * chain's head and drops the changed records (watch() calls it every polling interval, the batch
 * cut calls it before checking the readings it commits).
 */
export class RegistryCache implements DeviceRegistryView {
  private readonly cache = new Map<Hex, { at: number; device: RegistryDevice | null }>();
  private readonly inflight = new Map<Hex, Promise<RegistryDevice | null>>();
  /** Changes seen per device: a read that began before a change does not cache its result. */
  private readonly changes = new Map<Hex, number>();
  /** The last block whose events were applied; null before the first sync. */
  private synced: bigint | null = null;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: PublicClient,
    private readonly address: Hex,
    private readonly ttlMs = 5_000,
    /** Called with the devices whose records a sync dropped (revoked or rotated). */
    private readonly onChanged?: (deviceIds: Hex[]) => void,
  ) {}

  /**
   * Read the registry's DeviceRevoked and DeviceKeyRotated events up to the chain's head now, and
   * drop the cached record of each device they name. On the first call, the whole cache is
   * dropped (records read before it may predate any change). Calls are applied one after another.
   */
  sync(): Promise<void> {
    const run = this.syncing.then(() => this.syncOnce());
    this.syncing = run.catch(() => {});
    return run;
  }

  private async syncOnce(): Promise<void> {
    const head = await this.client.getBlockNumber();
    if (this.synced === null || head - this.synced > MAX_LOG_RANGE) {
      this.dropAll();
    } else if (head > this.synced) {
      const logs = await this.client.getLogs({
        address: this.address,
        events: CHANGE_EVENTS,
        fromBlock: this.synced + 1n,
        toBlock: head,
      });
      const changed = [...new Set(logs.map((l) => (l.args as { deviceId: Hex }).deviceId))];
      for (const id of changed) this.drop(id);
      if (changed.length > 0) this.onChanged?.(changed);
    }
    if (this.synced === null || head > this.synced) this.synced = head;
  }

  /**
   * Sync every `pollingIntervalMs` (default 1 s), so a revocation reaches the bridge within one
   * interval of its block instead of the TTL. Returns the function that stops following.
   */
  watch(pollingIntervalMs = 1_000): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      void this.sync()
        .catch(() => {
          // The RPC endpoint is unreachable: the TTL still bounds staleness meanwhile.
        })
        .finally(() => {
          if (!stopped) timer = setTimeout(tick, pollingIntervalMs);
        });
    };
    tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  private drop(deviceId: Hex): void {
    const key = deviceId.toLowerCase() as Hex;
    this.cache.delete(key);
    this.inflight.delete(key); // a read under way may predate the change: the next get reads again
    this.changes.set(key, (this.changes.get(key) ?? 0) + 1);
  }

  private dropAll(): void {
    for (const id of [...this.cache.keys(), ...this.inflight.keys()]) this.drop(id);
  }

  /**
   * The record as the chain has it now, unless it was read after `since` (ms; a message received
   * at `since` cannot be newer than that read). The bridge's per-device rate limit bounds how often
   * a device sending bad signatures can cause a read. The cached record if the chain is unreachable.
   */
  async refresh(deviceId: Hex, since: number): Promise<RegistryDevice | null> {
    const hit = this.cache.get(deviceId.toLowerCase() as Hex);
    if (hit && hit.at <= since) hit.at = 0;
    return this.get(deviceId);
  }

  async get(id: Hex): Promise<RegistryDevice | null> {
    const deviceId = id.toLowerCase() as Hex;
    const hit = this.cache.get(deviceId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.device;
    let p = this.inflight.get(deviceId);
    if (!p) {
      const reading: Promise<RegistryDevice | null> = this.read(deviceId)
        .catch((err: unknown) => {
          // The RPC endpoint is unreachable: keep serving what we last read (a revocation made
          // meanwhile reaches us when it is back); a device never read before cannot be checked.
          if (hit) return hit.device;
          throw err;
        })
        .finally(() => {
          if (this.inflight.get(deviceId) === reading) this.inflight.delete(deviceId);
        });
      p = reading;
      this.inflight.set(deviceId, p);
    }
    return p;
  }

  private async read(deviceId: Hex): Promise<RegistryDevice | null> {
    const changesBefore = this.changes.get(deviceId) ?? 0;
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
    // A change seen while reading may have come after the read: serve it, cache it not.
    if ((this.changes.get(deviceId) ?? 0) === changesBefore)
      this.cache.set(deviceId, { at: Date.now(), device });
    return device;
  }
}
