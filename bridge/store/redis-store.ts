import type { Redis } from "ioredis";
import type { Hex } from "viem";
import { type DurabilityReport, judgeRedisSettings } from "./durability.js";
import { classifyStoreError, StoreUnavailableError } from "./errors.js";
import { createRedisClient, type RedisConnectionParameters, replicaBarrier } from "./redis-connection.js";
import {
  ACCEPT,
  ACCEPT_CODES,
  ARCHIVED,
  COMPLETE,
  FINAL,
  LEASE,
  NEXT_BATCH,
  RELEASE,
  TRIM,
} from "./redis-scripts.js";
import {
  type AcceptOutcome,
  type ArchiveLag,
  type CommittedBatch,
  type FeedLatest,
  gapFloor,
  type HotAcceptOutcome,
  type HotStore,
  type PendingBatch,
  padSequence,
  type StoredReading,
} from "./types.js";

/*
 * Redis layout (prefix p):
 *   p:seq        HASH  device name -> highest accepted sequence (21-digit, zero-padded)
 *   p:readings   HASH  reading id -> StoredReading JSON
 *   p:queue      LIST  reading ids waiting for a batch, oldest first
 *   p:inflight   STRING JSON {seq, ids} of the batch cut but not yet recorded as committed
 *   p:batchseq   counter of cut batches
 *   p:root       HASH  reading id -> batch root
 *   p:batches    HASH  root -> CommittedBatch JSON
 *   p:to-archive ZSET  final batches not yet in the archive: root -> committed at (ms)
 *   p:to-archive-readings  their readings, counted
 *   p:archived   ZSET  batches in the archive and still hot: root -> archived at (ms); trimmed
 *                with the readings their cut left out (CommittedBatch leftOut, archived with them)
 *   p:trimmed    HASH  device name -> highest sequence moved out to the archive (padded)
 *   p:trimgen    counter of trims (ACCEPT's archive check)
 *
 * Bounded: seq and trimmed grow with devices, feed-latest with feeds; readings, root and batches
 * hold only what is queued, in flight, unfinal, waiting for the archive or hot (trimArchived);
 * the queue, to-archive and archived sets are bounded the same way.
 *
 * Lua rather than Streams: the replay check, the sequence update and the enqueue must be one
 * atomic step (a Stream would still need a script for the check), and a batch cut must move ids
 * from the queue to the in-flight record atomically so a crash between the two loses nothing.
 */

/** The readings a batch holds in Redis until it is trimmed: its committed ones and those its cut left out. */
const readingsHeld = (b: CommittedBatch) => b.ids.length + (b.leftOut?.length ?? 0);

type Script = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Redis &
  Record<
    "soAccept" | "soLease" | "soRelease" | "soNextBatch" | "soComplete" | "soTrim" | "soFinal" | "soArchived",
    Script
  >;

export type { RedisTlsParameters } from "./redis-connection.js";

export type RedisStoreParameters = RedisConnectionParameters & {
  prefix?: string;
  /**
   * Ack a reading only once this many replicas hold it (Redis WAIT; default 0: the primary's AOF
   * only). With Sentinel, a reading acknowledged by the primary but not yet on the replica is lost
   * if the primary dies and the replica is promoted: docs/SECURITY.md, "Redis Sentinel".
   */
  waitReplicas?: { replicas: number; timeoutMs: number };
  /** Connection errors (ioredis reconnects by itself; commands wait meanwhile). Logged by ioredis without it. */
  onError?: (err: Error) => void;
};

export class RedisStore implements HotStore {
  readonly durable = true;
  private refusing: string | null = null;
  private readonly redis: Scripted;
  private readonly k: Record<
    | "seq"
    | "readings"
    | "queue"
    | "inflight"
    | "batchseq"
    | "root"
    | "batches"
    | "lease"
    | "fence"
    | "leasefence"
    | "feedts"
    | "feedlatest"
    | "unfinal"
    | "toarchive"
    | "toarchiveReadings"
    | "archived"
    | "trimmed"
    | "trimgen",
    string
  >;

  private readonly replicated: (() => Promise<void>) | undefined;

  constructor({ prefix = "so", onError, waitReplicas, ...connection }: RedisStoreParameters) {
    const redis = createRedisClient(connection);
    this.replicated = waitReplicas?.replicas
      ? replicaBarrier(redis, waitReplicas.replicas, waitReplicas.timeoutMs)
      : undefined;
    if (onError) redis.on("error", onError);
    redis.defineCommand("soAccept", { numberOfKeys: 5, lua: ACCEPT });
    redis.defineCommand("soTrim", { numberOfKeys: 6, lua: TRIM });
    redis.defineCommand("soFinal", { numberOfKeys: 4, lua: FINAL });
    redis.defineCommand("soArchived", { numberOfKeys: 3, lua: ARCHIVED });
    redis.defineCommand("soLease", { numberOfKeys: 3, lua: LEASE });
    redis.defineCommand("soRelease", { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand("soNextBatch", { numberOfKeys: 4, lua: NEXT_BATCH });
    redis.defineCommand("soComplete", { numberOfKeys: 7, lua: COMPLETE });
    this.redis = redis as Scripted;
    const key = (s: string) => `${prefix}:${s}`;
    this.k = {
      seq: key("seq"),
      readings: key("readings"),
      queue: key("queue"),
      inflight: key("inflight"),
      batchseq: key("batchseq"),
      root: key("root"),
      batches: key("batches"),
      lease: key("lease"),
      fence: key("fence"),
      leasefence: key("lease-fence"),
      feedts: key("feed-latest-ts"),
      feedlatest: key("feed-latest"),
      unfinal: key("unfinalized"),
      toarchive: key("to-archive"),
      toarchiveReadings: key("to-archive-readings"),
      archived: key("archived"),
      trimmed: key("trimmed"),
      trimgen: key("trimgen"),
    };
  }

  /**
   * Refuse new readings (StoreUnavailableError "NOTDURABLE": answered `retry`, never `queued`)
   * while `reason` is set: the bridge sets it when Redis stops being durable while it runs (AOF
   * switched off, a restart without it), and clears it when Redis is durable again.
   */
  refuseReadings(reason: string | null): void {
    this.refusing = reason;
  }

  /**
   * Without an archive nothing is ever trimmed, so the archive question never comes up; if it
   * does (a Redis whose batches an archiving bridge trimmed), the reading is one this store cannot
   * check: StoreUnavailableError, so the device sends it again to a bridge with the archive.
   */
  async accept(r: StoredReading, deviceName: string): Promise<AcceptOutcome> {
    const outcome = await this.acceptChecked(r, deviceName, null);
    if (typeof outcome === "string") return outcome;
    throw new StoreUnavailableError("ARCHIVE", { details: `reading ${r.id} may be in the archive` });
  }

  async acceptChecked(
    r: StoredReading,
    deviceName: string,
    generation: number | null,
  ): Promise<HotAcceptOutcome> {
    if (this.refusing) throw new StoreUnavailableError("NOTDURABLE", { details: this.refusing });
    const seq = BigInt(r.sequence);
    const code = await retryable(
      this.redis.soAccept(
        this.k.seq,
        this.k.readings,
        this.k.queue,
        this.k.trimmed,
        this.k.trimgen,
        deviceName,
        padSequence(seq),
        r.id,
        JSON.stringify(r),
        gapFloor(seq),
        r.deviceId,
        r.feedId,
        r.value,
        r.timestamp,
        generation === null ? "" : String(generation),
      ),
    );
    if (Array.isArray(code)) return { checkArchive: Number(code[1]) };
    const outcome = ACCEPT_CODES[code as number] as AcceptOutcome;
    // "replay" too: the device takes it as delivered and drops its copy.
    if ((outcome === "queued" || outcome === "replay") && this.replicated) await retryable(this.replicated());
    return outcome;
  }

  async archivable(max: number): Promise<CommittedBatch[]> {
    const roots = await this.redis.zrange(this.k.toarchive, "0", String(max - 1));
    if (roots.length === 0) return [];
    const raw = await this.redis.hmget(this.k.batches, ...roots);
    const gone = roots.filter((_, i) => raw[i] === null);
    // Queued for the archive but no longer in Redis: nothing left to archive from here.
    if (gone.length) await this.redis.zrem(this.k.toarchive, ...gone);
    return raw.filter((b): b is string => b !== null).map((b) => JSON.parse(b) as CommittedBatch);
  }

  async markArchived(batches: CommittedBatch[], at: number): Promise<void> {
    if (batches.length === 0) return;
    await retryable(
      this.redis.soArchived(
        this.k.toarchive,
        this.k.toarchiveReadings,
        this.k.archived,
        at,
        ...batches.flatMap((b) => [b.root, readingsHeld(b)]),
      ),
    );
  }

  async trimArchived(archivedBefore: number, max: number): Promise<{ batches: number; readings: number }> {
    const [batches, readings] = (await retryable(
      this.redis.soTrim(
        this.k.archived,
        this.k.batches,
        this.k.readings,
        this.k.root,
        this.k.trimmed,
        this.k.trimgen,
        String(archivedBefore),
        max,
      ),
    )) as [number, number];
    return { batches, readings };
  }

  async archiveLag(): Promise<ArchiveLag> {
    const [count, oldest, readings] = await Promise.all([
      this.redis.zcard(this.k.toarchive),
      this.redis.zrange(this.k.toarchive, "0", "0", "WITHSCORES"),
      this.redis.get(this.k.toarchiveReadings),
    ]);
    return {
      batches: count,
      readings: Math.max(0, Number(readings ?? 0)),
      oldestCommittedAt: oldest[1] === undefined ? null : Number(oldest[1]),
    };
  }

  async adoptUnarchived(): Promise<number> {
    let adopted = 0;
    let cursor = "0";
    do {
      const [next, flat] = await this.redis.hscan(this.k.batches, cursor, "COUNT", 500);
      cursor = next;
      for (let i = 0; i < flat.length; i += 2) {
        const root = flat[i] as string;
        const [unfinal, queued, archived] = await Promise.all([
          this.redis.sismember(this.k.unfinal, root),
          this.redis.zscore(this.k.toarchive, root),
          this.redis.zscore(this.k.archived, root),
        ]);
        if (unfinal || queued !== null || archived !== null) continue;
        const b = JSON.parse(flat[i + 1] as string) as CommittedBatch;
        await this.redis
          .multi()
          .zadd(this.k.toarchive, String(b.committedAt), root)
          .incrby(this.k.toarchiveReadings, readingsHeld(b))
          .exec();
        adopted += 1;
      }
    } while (cursor !== "0");
    return adopted;
  }

  async lease(owner: string, ttlMs: number): Promise<number | null> {
    const f = (await retryable(
      this.redis.soLease(this.k.lease, this.k.fence, this.k.leasefence, owner, ttlMs),
    )) as number;
    return f > 0 ? f : null;
  }

  async releaseLease(owner: string): Promise<boolean> {
    return (await retryable(this.redis.soRelease(this.k.lease, owner))) === 1;
  }

  async checkDurability(): Promise<DurabilityReport> {
    try {
      const get = async (name: string) => ((await this.redis.config("GET", name)) as string[])[1] ?? null;
      return judgeRedisSettings(
        {
          appendonly: await get("appendonly"),
          appendfsync: await get("appendfsync"),
          maxmemoryPolicy: await get("maxmemory-policy"),
        },
        "config",
      );
    } catch {
      // CONFIG renamed or disabled by the operator: INFO tells AOF on/off and the policy, not fsync.
      const info = await this.redis.info();
      const field = (n: string) => new RegExp(`^${n}:(.*)$`, "m").exec(info)?.[1]?.trim() ?? null;
      const aof = field("aof_enabled");
      return judgeRedisSettings(
        {
          appendonly: aof === null ? null : aof === "1" ? "yes" : "no",
          appendfsync: null,
          maxmemoryPolicy: field("maxmemory_policy"),
        },
        "info",
      );
    }
  }

  async nextBatch(max: number, fence: number): Promise<PendingBatch | null> {
    const raw = (await retryable(
      this.redis.soNextBatch(
        this.k.queue,
        this.k.inflight,
        this.k.batchseq,
        this.k.leasefence,
        max,
        String(fence),
      ),
    )) as string | null;
    if (!raw) return null;
    const b = JSON.parse(raw) as { seq: number; ids: string[] | Record<string, never> };
    // cjson encodes an empty table as {}; a cut batch is never empty.
    return { seq: b.seq, ids: Array.isArray(b.ids) ? b.ids : [] };
  }

  async completeBatch(
    batch: PendingBatch,
    c: CommittedBatch,
    fence: number,
    feeds: FeedLatest[] = [],
  ): Promise<void> {
    await retryable(
      this.redis.soComplete(
        this.k.inflight,
        this.k.batches,
        this.k.root,
        this.k.leasefence,
        this.k.feedts,
        this.k.feedlatest,
        this.k.unfinal,
        String(batch.seq),
        c.root,
        JSON.stringify(c),
        String(fence),
        ...feeds.flatMap((f) => [f.feedId, padSequence(f.timestamp), f.id]),
      ),
    );
  }

  async unfinalizedBatches(): Promise<CommittedBatch[]> {
    const roots = await this.redis.smembers(this.k.unfinal);
    if (roots.length === 0) return [];
    const raw = await this.redis.hmget(this.k.batches, ...roots);
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as CommittedBatch);
  }

  async updateBatch(batch: CommittedBatch, final: boolean): Promise<void> {
    // Final: out of the reorg watch and into the archive queue, in one step. Only a batch that was
    // unfinal moves (SREM answers 1): a second "final" of the same root (two bridges) adds nothing.
    if (!final) {
      await retryable(this.redis.hset(this.k.batches, batch.root, JSON.stringify(batch)));
      return;
    }
    await retryable(
      this.redis.soFinal(
        this.k.batches,
        this.k.unfinal,
        this.k.toarchive,
        this.k.toarchiveReadings,
        batch.root,
        JSON.stringify(batch),
        batch.committedAt,
        readingsHeld(batch),
      ),
    );
  }

  async latestOfFeed(feedId: Hex): Promise<string | null> {
    return this.redis.hget(this.k.feedlatest, feedId);
  }

  async lastSequence(deviceName: string): Promise<bigint | null> {
    const v = await this.redis.hget(this.k.seq, deviceName);
    return v === null ? null : BigInt(v);
  }

  async getReadings(ids: string[]): Promise<(StoredReading | null)[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget(this.k.readings, ...ids);
    return raw.map((s) => (s ? (JSON.parse(s) as StoredReading) : null));
  }

  async rootOf(id: string): Promise<Hex | null> {
    return (await this.redis.hget(this.k.root, id)) as Hex | null;
  }

  async getBatch(root: Hex): Promise<CommittedBatch | null> {
    const raw = await this.redis.hget(this.k.batches, root);
    return raw ? (JSON.parse(raw) as CommittedBatch) : null;
  }

  async queueDepth(): Promise<number> {
    return this.redis.llen(this.k.queue);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** A write refused for now (OOM and the like) as StoreUnavailableError; other errors as they are. */
async function retryable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw classifyStoreError(err);
  }
}
