import { LRUCache } from "lru-cache";
import type { Hex, PublicClient } from "viem";
import { sensorOracleAbi } from "../../chain/abi.js";
import { curveOf } from "../../protocol/index.js";
import type { DeviceRegistryView, RegistryDevice, RegistryKey } from "./types.js";

const point = (x: Hex, y: Hex) =>
  Buffer.concat([Buffer.from([4]), Buffer.from(x.slice(2), "hex"), Buffer.from(y.slice(2), "hex")]);

/**
 * The registry events after which a cached record is read again: a revocation or rotation changes
 * the record, a registration turns an unknown device (cached as null) into a registered one.
 */
const CHANGE_EVENTS = sensorOracleAbi.filter(
  (item) =>
    item.type === "event" &&
    (item.name === "DeviceRevoked" || item.name === "DeviceKeyRotated" || item.name === "DeviceRegistered"),
);

/** Past this many blocks behind, the cache is dropped whole instead of reading the logs between. */
const MAX_LOG_RANGE = 5_000n;

/**
 * Bytes a cached record holds, roughly: measured with 100,000 records of devices never rotated
 * (process.memoryUsage after GC, 2026-11-29): 551 bytes of heap (the 66-character id as key, the
 * entry and record objects, the fingerprint string, the LRU's slots) and 65-150 of Buffer pool
 * for the key; each past key is estimated at 250 more.
 */
export function recordBytes(device: RegistryDevice | null): number {
  if (!device) return 250;
  return 700 + 250 * device.pastKeys.length;
}

type Entry = { /** Date.now() when the read began. */ at: number; device: RegistryDevice | null };
/** What getDevice returns. */
type DeviceResult = {
  curve: number;
  status: number;
  validFrom: number;
  revokedAt: number;
  x: Hex;
  y: Hex;
  certFingerprint: Hex;
};
type Inflight = { startedAt: number; promise: Promise<RegistryDevice | null> };

export type RegistryCacheOptions = {
  /**
   * While the event sync fails, how long a record is served without reading it again (ms; 5 s).
   * While it works, records stay until an event changes them (see `isFresh`).
   */
  ttlMs?: number;
  /** Whatever the sync says, a record is read again after this long (ms; 10 min): a bound on a missed event. */
  maxAgeMs?: number;
  /**
   * Calls reading records under way at once at most (8): a fleet connecting at once queues its
   * first reads instead of opening a connection to the RPC endpoint per device.
   */
  maxConcurrentReads?: number;
  /**
   * Devices read in one call at most (25): the records queued meanwhile, in one deployless
   * multicall. Its answer is returned as contract code, which may not pass 24,576 bytes (EIP-170):
   * about 512 bytes a device, so at most 48.
   */
  readBatchSize?: number;
  /** Memory the cached records may take (bytes, as `recordBytes` counts; 32 MiB, about 48,000 devices). */
  maxBytes?: number;
  /** Where the registry's events are read (default: the client records are read from). */
  eventsClient?: PublicClient;
  /** Called with the devices whose records a sync dropped because they were revoked or rotated. */
  onChanged?: (deviceIds: Hex[]) => void;
};

/**
 * Read-through cache of DeviceRegistry records, bounded by memory (least recently used dropped
 * first). `sync` reads the registry's DeviceRegistered, DeviceRevoked and DeviceKeyRotated events
 * up to the chain's head and drops the record of each device they name (watch() calls it every
 * polling interval, the batch cut calls it before checking the readings it commits). A record is
 * served from the cache while it is fresh (`isFresh`): since the last successful sync began, or
 * `ttlMs` after it was read, whichever is later. So while the sync works no record is read twice
 * unless an event changed it; while it fails, records are read again after `ttlMs`.
 */
export class RegistryCache implements DeviceRegistryView {
  private readonly cache: LRUCache<Hex, Entry>;
  /** Reads under way, coalesced per device; a sync that drops the device removes its entry. */
  private readonly inflight = new Map<Hex, Inflight>();
  /** The last block whose events were applied; null before the first sync. */
  private synced: bigint | null = null;
  /** Date.now() when the last successful sync began (read the head); every change before it is applied. */
  private syncedAt = Number.NEGATIVE_INFINITY;
  private syncing: Promise<void> = Promise.resolve();
  private readonly ttlMs: number;
  private readonly maxAgeMs: number;
  private readonly events: PublicClient;
  private readonly onChanged: ((deviceIds: Hex[]) => void) | undefined;
  /** Contract calls made to read records (a multicall counts one): what the cache saves. */
  reads = 0;
  private readonly maxConcurrentReads: number;
  private readonly readBatchSize: number;
  /** Calls under way. */
  private running = 0;
  /** Devices waiting to be read, in order of arrival. */
  private readonly queue: {
    deviceId: Hex;
    resolve: (d: RegistryDevice | null) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private pumpScheduled = false;

  constructor(
    private readonly client: PublicClient,
    private readonly address: Hex,
    options: RegistryCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5_000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.events = options.eventsClient ?? client;
    this.onChanged = options.onChanged;
    this.maxConcurrentReads = options.maxConcurrentReads ?? 8;
    this.readBatchSize = Math.min(options.readBatchSize ?? 25, 48);
    this.cache = new LRUCache<Hex, Entry>({
      maxSize: options.maxBytes ?? 32 * 1024 * 1024,
      sizeCalculation: (e) => recordBytes(e.device),
    });
  }

  /** Records cached now, and the bytes they count for (`recordBytes`). */
  get size(): { records: number; bytes: number } {
    return { records: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /**
   * Read the registry's DeviceRegistered, DeviceRevoked and DeviceKeyRotated events up to the
   * chain's head now, and drop the cached record of each device they name. On the first call, the
   * whole cache is dropped (records read before it may predate any change). Calls are applied one
   * after another.
   */
  sync(): Promise<void> {
    const run = this.syncing.then(() => this.syncOnce());
    this.syncing = run.catch(() => {});
    return run;
  }

  private async syncOnce(): Promise<void> {
    const began = Date.now();
    // cacheTime 0: viem would otherwise answer from its cache (the client's polling interval).
    const head = await this.events.getBlockNumber({ cacheTime: 0 });
    if (this.synced === null || head - this.synced > MAX_LOG_RANGE) {
      this.dropAll();
    } else if (head > this.synced) {
      const logs = await this.events.getLogs({
        address: this.address,
        events: CHANGE_EVENTS,
        fromBlock: this.synced + 1n,
        toBlock: head,
      });
      const changed = new Set<Hex>();
      for (const l of logs) {
        const id = (l.args as { deviceId: Hex }).deviceId;
        this.drop(id);
        if (l.eventName !== "DeviceRegistered") changed.add(id);
      }
      if (changed.size > 0) this.onChanged?.([...changed]);
    }
    if (this.synced === null || head > this.synced) this.synced = head;
    this.syncedAt = began;
  }

  /**
   * Sync every `pollingIntervalMs` (default 1 s), so a change reaches the bridge within one
   * interval of its block. Returns the function that stops following.
   */
  watch(pollingIntervalMs = 1_000): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      void this.sync()
        .catch(() => {
          // The events cannot be read: records are read again after the TTL meanwhile (isFresh).
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

  /**
   * A record read at `at` still holds now when every change made since is known to have been
   * applied: the last successful sync began after it was read (a sync drops what changed up to the
   * head it read, and a record read during a sync that drops it is not cached), or it was read
   * less than `ttlMs` ago. Never past `maxAgeMs`.
   */
  private isFresh(e: Entry, now: number): boolean {
    const age = now - e.at;
    if (age >= this.maxAgeMs) return false;
    return now - Math.max(e.at, this.syncedAt) < this.ttlMs;
  }

  private drop(deviceId: Hex): void {
    const key = deviceId.toLowerCase() as Hex;
    this.cache.delete(key);
    this.inflight.delete(key); // a read under way may predate the change: not cached, the next get reads again
  }

  private dropAll(): void {
    this.cache.clear();
    this.inflight.clear();
  }

  /**
   * The record as the chain has it now, unless it was read after `since` (ms; a message received
   * at `since` cannot be newer than that read). The bridge's per-device rate limit bounds how often
   * a device sending bad signatures can cause a read. The cached record if the chain is unreachable.
   */
  refresh(deviceId: Hex, since: number): Promise<RegistryDevice | null> {
    return this.load(deviceId.toLowerCase() as Hex, since);
  }

  get(id: Hex): Promise<RegistryDevice | null> {
    return this.load(id.toLowerCase() as Hex, null);
  }

  /** The cached record if fresh (and read after `since`, when given), else one read, coalesced. */
  private load(deviceId: Hex, since: number | null): Promise<RegistryDevice | null> {
    const now = Date.now();
    const hit = this.cache.get(deviceId);
    if (hit && this.isFresh(hit, now) && (since === null || hit.at > since))
      return Promise.resolve(hit.device);
    const under = this.inflight.get(deviceId);
    if (under && (since === null || under.startedAt > since)) return under.promise;
    const entry: Inflight = { startedAt: now, promise: Promise.resolve(null) };
    entry.promise = this.read(deviceId).then(
      (device) => {
        // Dropped by a sync meanwhile: the change may have come after the read, serve it, cache it not.
        if (this.inflight.get(deviceId) === entry) {
          this.inflight.delete(deviceId);
          this.cache.set(deviceId, { at: now, device });
        }
        return device;
      },
      (err: unknown) => {
        if (this.inflight.get(deviceId) === entry) this.inflight.delete(deviceId);
        // The RPC endpoint is unreachable: keep serving what we last read (a revocation made
        // meanwhile reaches us when it is back); a device never read before cannot be checked.
        if (hit) return hit.device;
        throw err;
      },
    );
    this.inflight.set(deviceId, entry);
    return entry.promise;
  }

  /** The device's record as the chain has it now: queued, read with the others queued meanwhile. */
  private read(deviceId: Hex): Promise<RegistryDevice | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ deviceId, resolve, reject });
      this.pump();
    });
  }

  /**
   * On the next turn of the event loop (so that misses arriving together share a call), start
   * calls for the queued devices, `readBatchSize` a call, while fewer than `maxConcurrentReads`
   * are under way; each call that ends starts the next.
   */
  private pump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      while (this.running < this.maxConcurrentReads && this.queue.length > 0) {
        const batch = this.queue.splice(0, this.readBatchSize);
        this.running += 1;
        void this.readBatch(batch.map((b) => b.deviceId))
          .then(
            (devices) => {
              for (const [i, b] of batch.entries()) b.resolve(devices[i] ?? null);
            },
            (err: unknown) => {
              for (const b of batch) b.reject(err);
            },
          )
          .finally(() => {
            this.running -= 1;
            if (this.queue.length > 0) this.pump();
          });
      }
    });
  }

  /**
   * Records of `ids` at one block: getDevice and pastKeyCount of each in one eth_call (Multicall3
   * sent as code, deployless: nothing to deploy on the chain), then the past keys of rotated devices.
   */
  private async readBatch(ids: Hex[]): Promise<(RegistryDevice | null)[]> {
    this.reads += 1;
    const results = await this.client.multicall({
      deployless: true,
      allowFailure: false,
      batchSize: 0,
      contracts: ids.flatMap(
        (id) =>
          [
            { address: this.address, abi: sensorOracleAbi, functionName: "getDevice", args: [id] },
            { address: this.address, abi: sensorOracleAbi, functionName: "pastKeyCount", args: [id] },
          ] as const,
      ),
    });
    return Promise.all(
      ids.map((id, i) => {
        const d = results[2 * i] as DeviceResult;
        const count = results[2 * i + 1] as bigint;
        return d.status === 0 ? null : this.record(id, d, count);
      }),
    );
  }

  private async record(deviceId: Hex, d: DeviceResult, count: bigint): Promise<RegistryDevice> {
    const pastKeys: RegistryKey[] = [];
    for (let i = 0n; i < count; i++) {
      this.reads += 1;
      const [curve, x, y, validFrom, validUntil] = await this.client.readContract({
        address: this.address,
        abi: sensorOracleAbi,
        functionName: "getPastKey",
        args: [deviceId, i],
      });
      pastKeys.push({ curve: curveOf(curve), publicKey: point(x, y), validFrom, validUntil });
    }
    return {
      curve: curveOf(d.curve),
      status: d.status === 1 ? "active" : "revoked",
      validFrom: d.validFrom,
      revokedAt: d.revokedAt,
      publicKey: point(d.x, d.y),
      certFingerprint: d.certFingerprint,
      pastKeys,
    };
  }
}
