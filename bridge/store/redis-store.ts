import { Redis } from "ioredis";
import type { Hex } from "viem";
import {
  type AcceptOutcome,
  type CommittedBatch,
  type FeedLatest,
  gapFloor,
  type PendingBatch,
  padSequence,
  type ReadingStore,
  type StoredReading,
  windowCeiling,
  windowFloor,
} from "./types.js";

/*
 * Redis layout (prefix p):
 *   p:seq        HASH  device name -> highest accepted sequence (21-digit, zero-padded)
 *   p:window:<d> ZSET  sequences accepted within REPLAY_WINDOW below the highest (lex order)
 *   p:readings   HASH  reading id -> StoredReading JSON
 *   p:queue      LIST  reading ids waiting for a batch, oldest first
 *   p:inflight   STRING JSON {seq, ids} of the batch cut but not yet recorded as committed
 *   p:batchseq   counter of cut batches
 *   p:root       HASH  reading id -> batch root
 *   p:batches    HASH  root -> CommittedBatch JSON
 *
 * Lua rather than Streams: the replay check, the sequence update and the enqueue must be one
 * atomic step (a Stream would still need a script for the check), and a batch cut must move ids
 * from the queue to the in-flight record atomically so a crash between the two loses nothing.
 */

// KEYS: seq hash, readings, queue, the device's replay window (sorted set, members compared by lex).
// ARGV: device, seq, id, json, gap floor, window ceiling, window floor (all sequences padded).
const ACCEPT = `
local last = redis.call('HGET', KEYS[1], ARGV[1]) or '000000000000000000000'
if ARGV[2] > last then
  if last < ARGV[5] then return 2 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYLEX', KEYS[4], '-', '(' .. ARGV[7])
else
  if ARGV[6] <= last then return 0 end
  if redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 0 end
end
redis.call('ZADD', KEYS[4], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1`;

// Acquire or renew the submitter lease; a new holder gets a new fencing token.
const LEASE = `
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local f = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[3], f)
  return f
elseif cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[3]))
end
return -1`;

// KEYS[4] and ARGV[2] (NEXT_BATCH) / KEYS[4] and ARGV[4] (COMPLETE): the current fencing token
// must be the caller's, so a submitter that lost its lease changes nothing.
const NEXT_BATCH = `
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return redis.error_reply('FENCED lease lost') end
local inflight = redis.call('GET', KEYS[2])
if inflight then return inflight end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return false end
redis.call('LTRIM', KEYS[1], #ids, -1)
local seq = redis.call('INCR', KEYS[3])
local batch = cjson.encode({seq = seq, ids = ids})
redis.call('SET', KEYS[2], batch)
return batch`;

const COMPLETE = `
if redis.call('GET', KEYS[4]) ~= ARGV[4] then return redis.error_reply('FENCED lease lost') end
local inflight = redis.call('GET', KEYS[1])
if not inflight then return 0 end
local b = cjson.decode(inflight)
if tostring(b.seq) ~= ARGV[1] then return redis.error_reply('in-flight batch changed') end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
for _, id in ipairs(b.ids) do redis.call('HSET', KEYS[3], id, ARGV[2]) end
redis.call('SADD', KEYS[7], ARGV[2])
for i = 5, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[5], ARGV[i])
  if not cur or ARGV[i + 1] >= cur then
    redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 2])
  end
end
redis.call('DEL', KEYS[1])
return 1`;

type Scripted = Redis & {
  soAccept(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    a1: string,
    a2: string,
    a3: string,
    a4: string,
    a5: string,
    a6: string,
    a7: string,
  ): Promise<number>;
  soLease(k1: string, k2: string, k3: string, owner: string, ttlMs: number): Promise<number>;
  soNextBatch(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    max: number,
    fence: string,
  ): Promise<string | null>;
  soComplete(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    k7: string,
    seq: string,
    root: string,
    json: string,
    fence: string,
    ...feeds: string[]
  ): Promise<number>;
};

export type RedisStoreParameters = { url: string; prefix?: string };

export class RedisStore implements ReadingStore {
  readonly durable = true;
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
    | "window"
    | "feedts"
    | "feedlatest"
    | "unfinal",
    string
  >;

  constructor({ url, prefix = "so" }: RedisStoreParameters) {
    // Auto-pipelining: the scripts of readings processed together go out in one round trip.
    const redis = new Redis(url, {
      maxRetriesPerRequest: null,
      lazyConnect: false,
      enableAutoPipelining: true,
    });
    redis.defineCommand("soAccept", { numberOfKeys: 4, lua: ACCEPT });
    redis.defineCommand("soLease", { numberOfKeys: 3, lua: LEASE });
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
      window: key("window"),
      feedts: key("feed-latest-ts"),
      feedlatest: key("feed-latest"),
      unfinal: key("unfinalized"),
    };
  }

  async accept(r: StoredReading, deviceName: string): Promise<AcceptOutcome> {
    const seq = BigInt(r.sequence);
    const ok = await this.redis.soAccept(
      this.k.seq,
      this.k.readings,
      this.k.queue,
      `${this.k.window}:${deviceName}`,
      deviceName,
      padSequence(seq),
      r.id,
      JSON.stringify(r),
      gapFloor(seq),
      windowCeiling(seq),
      windowFloor(seq),
    );
    return ok === 1 ? "queued" : ok === 2 ? "gap" : "replay";
  }

  async lease(owner: string, ttlMs: number): Promise<number | null> {
    const f = await this.redis.soLease(this.k.lease, this.k.fence, this.k.leasefence, owner, ttlMs);
    return f > 0 ? f : null;
  }

  async nextBatch(max: number, fence: number): Promise<PendingBatch | null> {
    const raw = await this.redis.soNextBatch(
      this.k.queue,
      this.k.inflight,
      this.k.batchseq,
      this.k.leasefence,
      max,
      String(fence),
    );
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
    await this.redis.soComplete(
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
    );
  }

  async unfinalizedBatches(): Promise<CommittedBatch[]> {
    const roots = await this.redis.smembers(this.k.unfinal);
    if (roots.length === 0) return [];
    const raw = await this.redis.hmget(this.k.batches, ...roots);
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as CommittedBatch);
  }

  async updateBatch(batch: CommittedBatch, final: boolean): Promise<void> {
    const m = this.redis.multi().hset(this.k.batches, batch.root, JSON.stringify(batch));
    if (final) m.srem(this.k.unfinal, batch.root);
    await m.exec();
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
