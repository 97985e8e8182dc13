import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import type { FleetContracts } from "../../chain/deploy.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { registerDevice } from "../../fleet/registry-admin.js";
import { createFleetCa, type IssuedCertificate, type IssuedDevice } from "../../pki/fleet-ca.js";
import { feedIdOf } from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { type ChainNode, deployOverHttp } from "../../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../../testkit/infra.js";
import { freePort } from "../../testkit/ports.js";
import type { Service } from "../../testkit/process.js";
import { startTcpProxy, type TcpProxy } from "../../testkit/tcp-proxy.js";

type ReadyBody = { ok: boolean; checks: Record<string, boolean>; reasons?: Record<string, string> };

/**
 * The bridge as a service (bridge/server.ts) started while the broker, Redis and the RPC endpoint
 * are all unreachable (each behind a TCP proxy that refuses connections): it stays up, answers
 * /healthz, reports not ready with a reason per part, retries, and becomes ready and takes
 * readings once they are up.
 */
describe("start in any order: broker, Redis and chain down at start", () => {
  let node: ChainNode;
  let redis: Service;
  let broker: Service;
  let dir: string;
  let contracts: FleetContracts;
  let device: IssuedDevice;
  let proxies: { redis: TcpProxy; broker: TcpProxy; rpc: TcpProxy };
  let config: string;
  let httpPort: number;
  let bridge: ChildProcess | undefined;
  let agent: DeviceAgent | undefined;
  const lines: string[] = [];
  let siteBroker: { url: string };

  beforeAll(async () => {
    const ca = await createFleetCa();
    let bridgeCert: IssuedCertificate;
    ({ bridgeCert, node, redis, broker } = await startProcessInfra(ca));
    contracts = await deployOverHttp(node);
    device = await ca.issueDevice({ curve: "secp256k1" });
    dir = mkdtempSync(join(tmpdir(), "so-start-order-"));
    mkdirSync(join(dir, "devices"));
    writeFileSync(join(dir, "devices", `${device.name}.pem`), device.certPem);
    await registerDevice(
      { wallet: node.admin, publicClient: node.publicClient, registry: contracts.oracle },
      device,
      Math.floor(Date.now() / 1000) - 3600,
    );
    proxies = {
      redis: await startTcpProxy(redis.port),
      broker: await startTcpProxy(broker.port),
      rpc: await startTcpProxy(Number(new URL(node.url).port)),
    };
    for (const p of Object.values(proxies)) await p.cut();
    httpPort = await freePort();
    config = writeBridgeConfig(
      dir,
      ca,
      {
        bridgeCert,
        broker: { url: `mqtts://127.0.0.1:${proxies.broker.port}` },
        redis: { url: `redis://127.0.0.1:${proxies.redis.port}`, prefix: "start-order" },
        rpcUrl: proxies.rpc.url,
        contracts,
      },
      { batch: { intervalMs: 500, maxSize: 16 }, http: { port: httpPort }, logLevel: "info" },
    );
    siteBroker = broker;
    agent = await startDeviceAgent(device, siteOn(ca, siteBroker, { chainId: 31337, contracts }), {
      ackTimeoutMs: 2_000,
    });
  }, 240_000);

  afterAll(async () => {
    await agent?.stop().catch(() => {});
    bridge?.kill("SIGKILL");
    await Promise.all([broker?.stop(), redis?.stop(), ...Object.values(proxies ?? {}).map((p) => p.stop())]);
    node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
    return { status: res.status, body: (await res.json()) as ReadyBody };
  };

  it("is alive and not ready (with reasons) while all three are down, then ready, and commits a reading", async () => {
    bridge = spawn(process.execPath, ["--import", "tsx", "bridge/server.ts", config], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const onData = (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean));
    bridge.stdout?.on("data", onData);
    bridge.stderr?.on("data", onData);
    const exited = new Promise<number | null>((r) => bridge?.once("exit", r));

    await expect
      .poll(async () => (await get("/healthz").catch(() => ({ status: 0 }))).status, { timeout: 60_000 })
      .toBe(200);
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(notReady.body.ok).toBe(false);
    expect(notReady.body.checks).toMatchObject({
      mqtt: false,
      redis: false,
      chain: false,
      durability: false,
    });
    expect(notReady.body.reasons?.mqtt).toMatch(/ECONNREFUSED/);
    expect(notReady.body.reasons?.redis).toBeTruthy();
    expect(notReady.body.reasons?.chain).toBeTruthy();
    expect(notReady.body.reasons?.durability).toMatch(/not checked yet/);

    // Still there after several retries of each.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(bridge.exitCode).toBeNull();
    expect(lines.some((l) => /MQTT connection error; retrying/.test(l))).toBe(true);
    expect(lines.some((l) => /Redis not reachable/.test(l))).toBe(true);
    expect(lines.some((l) => /bridge started/.test(l))).toBe(false);

    // The parts come up one by one, in an order other than the bridge's own.
    await proxies.rpc.restore();
    await proxies.broker.restore();
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await get("/readyz")).status).toBe(503);
    await proxies.redis.restore();
    await expect
      .poll(async () => (await get("/readyz")).status, { timeout: 90_000, interval: 500 })
      .toBe(200);
    expect((await get("/readyz")).body.checks).toMatchObject({ mqtt: true, redis: true, chain: true });
    expect(lines.some((l) => /bridge started/.test(l))).toBe(true);

    const a = agent as DeviceAgent;
    const seq = await a.publish(feedIdOf("start-order"), 421n);
    await expect
      .poll(() => a.acks.some((x) => x.sequence === seq && x.status === "queued"), { timeout: 30_000 })
      .toBe(true);
    const store = new RedisStore({ url: redis.url, prefix: "start-order" });
    try {
      await expect
        .poll(() => store.rootOf(readingId(device.name, seq)), { timeout: 60_000, interval: 500 })
        .not.toBeNull();
    } finally {
      await store.close();
    }
    expect(await Promise.race([exited, Promise.resolve("running")])).toBe("running");
  }, 240_000);
});
