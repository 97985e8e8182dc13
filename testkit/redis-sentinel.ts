import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, waitForPort } from "./ports.js";
import { binary, run, stopProc } from "./process.js";

const REDIS_SERVER = binary("redis-server", ["/usr/bin/redis-server", "/usr/sbin/redis-server"]);

/** One redis-server process of the set: a data node or a sentinel. */
type Node = { port: number; dir: string; proc: ChildProcess; log: () => string };

export type SentinelSet = {
  /** The monitored primary's name (redis.name in the bridge's settings). */
  name: string;
  /** The sentinels, for redis.sentinels. */
  sentinels: { host: string; port: number }[];
  /** The data nodes' ports, primary first as started. */
  dataPorts: number[];
  /** The port the sentinels name as primary now. */
  primaryPort(): Promise<number>;
  /** SIGKILL the data node on `port` (no restart). */
  kill(port: number): Promise<void>;
  /** Wait until the sentinels name a primary other than `port`. Resolves with the new primary's port. */
  failedOverFrom(port: number, timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
};

/**
 * A Redis set for Sentinel tests on free ports: one primary, `replicas` replicas (AOF on, synced on
 * every write, on every data node, so a promoted replica is as durable as the primary was), and
 * three sentinels (`redis-server --sentinel` with a generated sentinel.conf, quorum 2) that declare
 * the primary down after `downAfterMs`.
 */
export async function startSentinelSet(
  p: { name?: string; replicas?: number; downAfterMs?: number; replicaArgs?: string[] } = {},
): Promise<SentinelSet> {
  const name = p.name ?? "so-primary";
  const downAfterMs = p.downAfterMs ?? 1_000;
  const data: Node[] = [];
  const sentinels: Node[] = [];
  const start = async (args: (port: number, dir: string) => string[], prefix: string): Promise<Node> => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const { proc, log } = run(REDIS_SERVER, args(port, dir));
    await waitForPort(port, proc, log);
    return { port, dir, proc, log };
  };
  const dataArgs = (port: number, dir: string) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--dir",
    dir,
  ];
  try {
    const primary = await start(dataArgs, "so-redis-primary-");
    data.push(primary);
    for (let i = 0; i < (p.replicas ?? 1); i++) {
      data.push(
        await start(
          (port, dir) => [
            ...dataArgs(port, dir),
            "--replicaof",
            "127.0.0.1",
            String(primary.port),
            ...(p.replicaArgs ?? []),
          ],
          "so-redis-replica-",
        ),
      );
    }
    await waitForReplicas(primary.port, p.replicas ?? 1);
    for (let i = 0; i < 3; i++) {
      sentinels.push(
        await start((port, dir) => {
          const conf = join(dir, "sentinel.conf");
          writeFileSync(
            conf,
            [
              `port ${port}`,
              "bind 127.0.0.1",
              `dir ${dir}`,
              `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
              `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
              `sentinel failover-timeout ${name} 10000`,
              `sentinel parallel-syncs ${name} 1`,
              "",
            ].join("\n"),
          );
          return [conf, "--sentinel"];
        }, "so-sentinel-"),
      );
    }
  } catch (err) {
    await Promise.all([...sentinels, ...data].map((n) => stopProc(n.proc)));
    throw err;
  }
  const ask = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (const s of sentinels) {
      if (s.proc.exitCode !== null) continue;
      const r = new Redis({ port: s.port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await r.connect();
        return await fn(r);
      } catch (err) {
        last = err;
      } finally {
        r.disconnect();
      }
    }
    throw last;
  };
  const primaryPort = () =>
    ask(async (r) => {
      const addr = (await r.call("SENTINEL", "get-master-addr-by-name", name)) as string[];
      return Number(addr[1]);
    });
  return {
    name,
    sentinels: sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
    dataPorts: data.map((d) => d.port),
    primaryPort,
    async kill(port) {
      const node = data.find((d) => d.port === port);
      if (!node || node.proc.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        node.proc.once("exit", () => resolve());
        node.proc.kill("SIGKILL");
      });
    },
    async failedOverFrom(port, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const now = await primaryPort().catch(() => port);
        if (now !== port) return now;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`no failover from ${port} within ${timeoutMs} ms`);
    },
    async stop() {
      await Promise.all([...sentinels, ...data].map((n) => stopProc(n.proc)));
      for (const n of [...sentinels, ...data]) rmSync(n.dir, { recursive: true, force: true });
    },
  };
}

/** Wait until the primary on `port` reports `n` replicas online. */
async function waitForReplicas(port: number, n: number, timeoutMs = 15_000): Promise<void> {
  const r = new Redis({ port, host: "127.0.0.1" });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const info = await r.info("replication");
      const online = info.split("\n").filter((l) => /^slave\d+:.*state=online/.test(l)).length;
      if (online >= n) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`replicas not online within ${timeoutMs} ms`);
  } finally {
    r.disconnect();
  }
}
