import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import type { FleetContracts } from "../../chain/deploy.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { registerDevice } from "../../fleet/registry-admin.js";
import { createFleetCa, type IssuedCertificate, type IssuedDevice } from "../../pki/fleet-ca.js";
import { feedIdOf } from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { type ChainNode, deployOverHttp } from "../../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../../testkit/infra.js";
import { mineEvery } from "../../testkit/mining.js";
import { freePort } from "../../testkit/ports.js";
import type { Service } from "../../testkit/process.js";
import { startRedis } from "../../testkit/redis.js";
import { startTcpProxy, type TcpProxy } from "../../testkit/tcp-proxy.js";

const RPC_API_KEY = "so9TestApiKey0123456789abcdef";
const PER_DEVICE = 40;

type BridgeProcess = {
  proc: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, ms?: number): Promise<string>;
};
/** Every bridge process started, for checks over all their logs. */
const spawned: BridgeProcess[] = [];

/** A bridge process (bridge/server.ts), its log lines as they come. */
function spawnBridge(config: string): BridgeProcess {
  // Node itself (not npx), so that SIGKILL reaches the bridge and not only a wrapper.
  const proc = spawn(process.execPath, ["--import", "tsx", "bridge/server.ts", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
      i = buf.indexOf("\n");
    }
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const handle: BridgeProcess = {
    proc,
    lines,
    waitFor(re, ms = 60_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no log line ${re} within ${ms} ms:\n${lines.slice(-20).join("\n")}`)),
          ms,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
  spawned.push(handle);
  return handle;
}

/** How many of `ids` are in no committed batch yet. */
async function uncommitted(store: RedisStore, ids: string[]): Promise<number> {
  return (await Promise.all(ids.map((id) => store.rootOf(id)))).filter((r) => r === null).length;
}

describe("faults: kill -9 of the bridge mid-commit, Redis killed and restarted (AOF)", () => {
  let node: ChainNode;
  let redis: Service;
  let broker: Service;
  let dir: string;
  let contracts: FleetContracts;
  let devices: IssuedDevice[];
  const agents: DeviceAgent[] = [];
  const bridges: ChildProcess[] = [];
  let config: string;
  let rpc: TcpProxy;
  let bridge: ReturnType<typeof spawnBridge>;
  const feedId = feedIdOf("faults");

  beforeAll(async () => {
    const ca = await createFleetCa();
    let bridgeCert: IssuedCertificate;
    ({ bridgeCert, node, redis, broker } = await startProcessInfra(ca));
    contracts = await deployOverHttp(node);
    rpc = await startTcpProxy(Number(new URL(node.url).port));
    devices = [await ca.issueDevice({ curve: "p256" }), await ca.issueDevice({ curve: "secp256k1" })];
    dir = mkdtempSync(join(tmpdir(), "so-faults-"));
    mkdirSync(join(dir, "devices"));
    for (const d of devices) {
      writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
      await registerDevice(
        { wallet: node.admin, publicClient: node.publicClient, registry: contracts.oracle },
        d,
        Math.floor(Date.now() / 1000) - 3600,
      );
    }
    // Blocks every second from now on, so a commit waits for its block: time to kill the bridge.
    await mineEvery(node.publicClient, 1000);
    config = writeBridgeConfig(
      dir,
      ca,
      // An RPC URL with an API key in its path, as public providers give them: never in a log line.
      {
        bridgeCert,
        broker,
        redis: { url: redis.url, prefix: "faults" },
        rpcUrl: `${rpc.url}/v3/${RPC_API_KEY}`,
        contracts,
      },
      {
        batch: { intervalMs: 500, maxSize: 16 },
        http: { port: await freePort() },
        rateLimit: { perSecond: 1000, burst: 1000 },
        logLevel: "info",
      },
    );
    const site = siteOn(ca, broker, { chainId: 31337, contracts });
    for (const d of devices) agents.push(await startDeviceAgent(d, site, { ackTimeoutMs: 2_000 }));
  }, 240_000);

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => {});
    for (const b of bridges) b.kill("SIGKILL");
    await Promise.all([broker?.stop(), redis?.stop(), rpc?.stop()]);
    node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("commits every reading sent exactly once across a kill -9 of the bridge and a Redis crash", async () => {
    bridge = spawnBridge(config);
    bridges.push(bridge.proc);
    await bridge.waitFor(/bridge started/);

    const sent: string[] = [];
    const publishing = (async () => {
      for (let i = 0; i < PER_DEVICE; i++) {
        for (const [j, a] of agents.entries()) {
          const seq = await a.publish(feedId, BigInt(100 + i));
          sent.push(readingId((devices[j] as IssuedDevice).name, seq));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // kill -9 while a batch commit waits for its block, then start again.
    await bridge.waitFor(/committing batch/);
    bridge.proc.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    bridge = spawnBridge(config);
    bridges.push(bridge.proc);
    await bridge.waitFor(/bridge started/);

    // Redis dies without warning and comes back from its append-only file.
    await new Promise((r) => setTimeout(r, 1000));
    await redis.restart?.({ kill: true });
    await publishing;

    // Every reading is acknowledged in the end (devices resend what was not acked).
    await expect
      .poll(() => agents.reduce((n, a) => n + a.buffered, 0), { timeout: 60_000, interval: 500 })
      .toBe(0);

    const store = new RedisStore({ url: redis.url, prefix: "faults" });
    try {
      await expect.poll(() => uncommitted(store, sent), { timeout: 60_000, interval: 500 }).toBe(0);
      // Accounting over every reading sent: in exactly one batch, and the batches on-chain hold
      // exactly as many readings as were sent (a reading committed twice would show in the sum).
      const roots = new Set((await Promise.all(sent.map((id) => store.rootOf(id)))) as Hex[]);
      const perId = new Map<string, number>();
      for (const root of roots)
        for (const id of (await store.getBatch(root))?.ids ?? []) perId.set(id, (perId.get(id) ?? 0) + 1);
      expect(sent.length).toBe(2 * PER_DEVICE);
      expect(sent.every((id) => perId.get(id) === 1)).toBe(true);
      const events = await node.publicClient.getContractEvents({
        address: contracts.oracle,
        abi: sensorOracleAbi,
        eventName: "BatchCommitted",
        fromBlock: 0n,
      });
      expect(new Set(events.map((e) => e.args.root))).toEqual(roots);
      expect(events.reduce((n, e) => n + Number(e.args.count), 0)).toBe(sent.length);
    } finally {
      await store.close();
    }
  });

  it("keeps accepting readings while the RPC endpoint is unreachable for 30 s, then commits them all", async () => {
    const store = new RedisStore({ url: redis.url, prefix: "faults" });
    try {
      await rpc.cut();
      const cutAt = Date.now();
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        for (const [j, a] of agents.entries()) {
          const seq = await a.publish(feedId, BigInt(300 + i));
          sent.push(readingId((devices[j] as IssuedDevice).name, seq));
          expect(await a.waitForAck(seq)).toEqual({ sequence: seq, status: "queued" });
        }
      }
      // Accepted and durable, not committed: the queue grows while the chain is out of reach.
      expect(await store.queueDepth()).toBeGreaterThan(0);
      expect((await Promise.all(sent.map((id) => store.rootOf(id)))).every((r) => r === null)).toBe(true);
      await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - cutAt))));
      await rpc.restore();
      await expect.poll(() => uncommitted(store, sent), { timeout: 60_000, interval: 500 }).toBe(0);
      const perRoot = new Map<string, number>();
      for (const id of sent) {
        const root = (await store.rootOf(id)) as string;
        perRoot.set(root, (perRoot.get(root) ?? 0) + 1);
      }
      for (const [root, n] of perRoot)
        expect((await store.getBatch(root as Hex))?.ids.length).toBeGreaterThanOrEqual(n);
      expect(await store.queueDepth()).toBe(0);
      expect(bridge.lines.some((l) => /batch commit failed; will retry/.test(l))).toBe(true);
      // Every failed RPC call was logged with viem's error, which names the URL: redacted.
      expect(bridge.lines.some((l) => /HTTP request failed|fetch failed|ECONNREFUSED|socket/i.test(l))).toBe(
        true,
      );
      for (const b of spawned) expect(b.lines.join("\n")).not.toContain(RPC_API_KEY);
    } finally {
      await store.close();
    }
  });

  it("refuses to start on a Redis that would lose acknowledged readings, naming the setting", async () => {
    const volatile = await startRedis({ args: ["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"] });
    try {
      const file = join(dir, "volatile.json");
      const cfg = JSON.parse(readFileSync(config, "utf8"));
      cfg.redis.url = volatile.url;
      writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
      const b = spawnBridge(file);
      const code = await new Promise<number | null>((resolve) => b.proc.once("exit", resolve));
      expect(code).toBe(1);
      const line = b.lines.find((l) => /not durable/.test(l)) ?? "";
      expect(line).toMatch(/appendonly must be yes/);
      expect(line).toMatch(/maxmemory-policy must be noeviction/);
      expect(b.lines.some((l) => /bridge started/.test(l))).toBe(false);
    } finally {
      await volatile.stop();
    }
  });

  it("refuses readings with a retry answer while Redis stops being durable, and takes them once it is again", async () => {
    // The bridge from the tests above steps down (SIGTERM); this one checks Redis every second.
    bridge.proc.kill("SIGTERM");
    await new Promise((r) => bridge.proc.once("exit", r));
    const cfg = JSON.parse(readFileSync(config, "utf8"));
    cfg.redis.durabilityCheckSec = 1;
    const file = join(dir, "recheck.json");
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    bridge = spawnBridge(file);
    bridges.push(bridge.proc); // killed after the file like the others (it was left running)
    await bridge.waitFor(/bridge started/);
    const admin = new Redis(redis.url);
    try {
      await admin.config("SET", "appendonly", "no");
      await bridge.waitFor(/Redis is not durable/, 10_000);
      const a = agents[0] as DeviceAgent;
      const seq = await a.publish(feedId, 900n);
      expect(await a.waitForAck(seq, 10_000)).toMatchObject({ status: "retry", reason: "unavailable" });
      await admin.config("SET", "appendonly", "yes");
      await bridge.waitFor(/Redis is durable again/, 10_000);
      // The agent sends it again after the bridge's retryAfterMs: queued then.
      await expect
        .poll(() => a.acks.some((x) => x.sequence === seq && x.status === "queued"), { timeout: 30_000 })
        .toBe(true);
    } finally {
      await admin.config("SET", "appendonly", "yes");
      admin.disconnect();
    }
  });
});
