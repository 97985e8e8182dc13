import { Redis } from "ioredis";

/** Client certificate TLS to Redis (ioredis `tls`): the CA that signed Redis's certificate, and ours. */
export type RedisTlsParameters = { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };

export type RedisConnectionParameters = {
  /**
   * redis:// or rediss:// URL. With `sentinels`, its host and port are not used: the primary is the
   * one the sentinels name; its password, user and database still apply.
   */
  url: string;
  /** Connect over TLS with a client certificate (redis-server tls-auth-clients yes); the sentinels too. */
  tls?: RedisTlsParameters;
  /** Redis Sentinel: ask these sentinels for the primary named `name`, and again after a failover. */
  sentinels?: { host: string; port: number }[];
  /** The primary's name as the sentinels monitor it (sentinel monitor <name> ...). */
  name?: string;
};

/**
 * The ioredis client of a store: commands wait while Redis is unreachable (no per-request retry
 * limit) and go out auto-pipelined. Through sentinels, a failover is followed: on a lost connection
 * the client asks the sentinels for the primary again, and a READONLY answer (a former primary
 * demoted to replica) reconnects and sends the command again to the new primary.
 */
export function createRedisClient(p: RedisConnectionParameters): Redis {
  const tls = p.tls ? { tls: { ca: p.tls.ca, cert: p.tls.cert, key: p.tls.key } } : {};
  const options = {
    maxRetriesPerRequest: null,
    lazyConnect: false,
    // Auto-pipelining: the scripts of readings processed together go out in one round trip.
    enableAutoPipelining: true,
    ...tls,
  } as const;
  if (!p.sentinels?.length) return new Redis(p.url, options);
  if (!p.name) throw new TypeError("redis.name is required with redis.sentinels");
  return new Redis(p.url, {
    ...options,
    sentinels: p.sentinels,
    name: p.name,
    role: "master",
    // Sentinels answer quickly; a failover takes down-after-milliseconds plus the election.
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1_000),
    reconnectOnError: (err: Error) => (err.message.startsWith("READONLY") ? 2 : false),
    ...(p.tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls.tls } : {}),
  });
}

/**
 * A barrier after writes: resolves once `replicas` replicas hold every write this connection made
 * before the call (Redis WAIT), or rejects with a NOREPLICAS error after `timeoutMs`. Callers of
 * one event-loop turn share one WAIT (WAIT covers all earlier writes of the connection), so the
 * cost is a round trip per turn, not per reading.
 */
export function replicaBarrier(redis: Redis, replicas: number, timeoutMs: number): () => Promise<void> {
  let waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = waiting;
    waiting = [];
    redis.wait(replicas, timeoutMs).then(
      (n) => {
        if (n >= replicas) for (const w of batch) w.resolve();
        else {
          const err = new Error(
            `NOREPLICAS ${n} of ${replicas} replicas acknowledged within ${timeoutMs} ms`,
          );
          for (const w of batch) w.reject(err);
        }
      },
      (err: Error) => {
        for (const w of batch) w.reject(err);
      },
    );
  };
  return () =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
