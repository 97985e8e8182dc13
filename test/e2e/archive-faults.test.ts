import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchivedStore } from "../../bridge/archive/archived-store.js";
import { PostgresArchive } from "../../bridge/archive/postgres-archive.js";
import { toReading } from "../../bridge/checks.js";
import { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId, type StoredReading } from "../../bridge/store/types.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import type { FleetContracts } from "../../chain/deploy.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { registerDevice } from "../../fleet/registry-admin.js";
import { createFleetCa, type IssuedCertificate, type IssuedDevice } from "../../pki/fleet-ca.js";
import {
  encodeReadingMessage,
  feedIdOf,
  LEAF_TYPES,
  leafValues,
  normalizeLowS,
  readingDigest,
  readingsTopic,
  signDigest,
} from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { type ChainNode, deployOverHttp } from "../../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../../testkit/infra.js";
import { mineEvery } from "../../testkit/mining.js";
import { freePort } from "../../testkit/ports.js";
import { type PostgresService, startPostgres } from "../../testkit/postgres.js";
import type { Service } from "../../testkit/process.js";

/*
 * A bridge process with the PostgreSQL archive, devices publishing all along, and the faults of
 * issue 13: PostgreSQL down at start, down for 30 s mid-run, killed and restarted; Redis killed
 * and restarted (AOF always); kill -9 of the bridge, several times, while batches move from
 * Redis to the archive. Then an accounting over every reading sent: each acknowledged, committed
 * exactly once (on-chain and in the batches), in the archive, trimmed from Redis, and served by
 * the bridge with a Merkle proof that holds against its committed root.
 */

const HOT_SECONDS = 2;

type BridgeProcess = { proc: ChildProcess; lines: string[] };

function spawnBridge(config: string): BridgeProcess {
  // Node itself (not npx), so that SIGKILL reaches the bridge and not only a wrapper.
  const proc = spawn(process.execPath, ["--import", "tsx", "bridge/server.ts", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  return { proc, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("archive faults: PostgreSQL down at start and mid-run, PostgreSQL and Redis killed, kill -9 of the bridge", () => {
  let node: ChainNode;
  let redis: Service;
  let broker: Service;
  let pg: PostgresService;
  let dir: string;
  let contracts: FleetContracts;
  let devices: IssuedDevice[];
  const agents: DeviceAgent[] = [];
  const bridges: ChildProcess[] = [];
  let config: string;
  let httpPort: number;
  const feedId = feedIdOf("archive-faults");

  beforeAll(async () => {
    const ca = await createFleetCa();
    let bridgeCert: IssuedCertificate;
    [{ bridgeCert, node, redis, broker }, pg] = await Promise.all([startProcessInfra(ca), startPostgres()]);
    contracts = await deployOverHttp(node);
    devices = [await ca.issueDevice({ curve: "p256" }), await ca.issueDevice({ curve: "secp256k1" })];
    dir = mkdtempSync(join(tmpdir(), "so-archive-faults-"));
    mkdirSync(join(dir, "devices"));
    for (const d of devices) {
      writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
      await registerDevice(
        { wallet: node.admin, publicClient: node.publicClient, registry: contracts.oracle },
        d,
        Math.floor(Date.now() / 1000) - 3600,
      );
    }
    await mineEvery(node.publicClient, 1000);
    httpPort = await freePort();
    config = writeBridgeConfig(
      dir,
      ca,
      { bridgeCert, broker, redis: { url: redis.url, prefix: "af" }, rpcUrl: node.url, contracts },
      {
        batch: { intervalMs: 500, maxSize: 32 },
        http: { port: httpPort, requestsPerMinute: 1_000_000 },
        rateLimit: { perSecond: 1000, burst: 1000 },
        archive: { kind: "postgres", url: pg.url, hotSeconds: HOT_SECONDS },
        logLevel: "info",
      },
    );
    const site = siteOn(ca, broker, { chainId: 31337, contracts });
    for (const d of devices) agents.push(await startDeviceAgent(d, site, { ackTimeoutMs: 2_000 }));
  }, 240_000);

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => {});
    for (const b of bridges) b.kill("SIGKILL");
    await Promise.all([broker?.stop(), redis?.stop(), pg?.stop()]);
    node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const readyz = async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      return { code: res.status, body: (await res.json()) as { checks?: Record<string, boolean> } };
    } catch {
      return { code: 0, body: {} };
    }
  };
  const start = () => {
    const b = spawnBridge(config);
    bridges.push(b.proc);
    return b;
  };

  it("commits, archives and serves with a proof every reading sent, exactly once, through every fault", async () => {
    // PostgreSQL down at start: the bridge starts, takes readings, is not ready; ready once it is up.
    await pg.down();
    let bridge = start();
    await expect.poll(async () => (await readyz()).code, { timeout: 60_000, interval: 500 }).toBe(503);
    expect((await readyz()).body.checks).toMatchObject({ archive: false, redis: true, chain: true });

    const sent: string[] = [];
    let publishing = true;
    const flow = (async () => {
      for (let i = 0; publishing; i++) {
        for (const [j, a] of agents.entries()) {
          const seq = await a.publish(feedId, BigInt(100 + (i % 500)));
          sent.push(readingId((devices[j] as IssuedDevice).name, seq));
        }
        await sleep(100);
      }
    })();

    await sleep(3_000);
    await pg.up();
    await expect.poll(async () => (await readyz()).code, { timeout: 60_000, interval: 500 }).toBe(200);

    const hot = new RedisStore({ url: redis.url, prefix: "af" });
    const archive = new PostgresArchive({ connection: pg.url });
    const store = new ArchivedStore({ hot, archive });
    const archivedNow = async () => {
      try {
        return (await archive.stats()).readings;
      } catch {
        return -1;
      }
    };
    try {
      await expect.poll(archivedNow, { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);

      // PostgreSQL down for 30 s mid-run: readings still queued and committed, recent proofs
      // served from Redis, the lag grows; afterwards the archive catches up.
      await pg.down();
      const downAt = Date.now();
      const before = sent.length;
      await sleep(10_000);
      const during = sent.slice(before, sent.length - 10);
      const lagMetric = async () => {
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        return Number(/^sensor_oracle_archive_lag_batches (\d+)/m.exec(text)?.[1] ?? -1);
      };
      await expect.poll(lagMetric, { timeout: 20_000, interval: 500 }).toBeGreaterThan(0);
      const recent = during.at(-1) as string;
      await expect
        .poll(
          async () => {
            const res = await fetch(`http://127.0.0.1:${httpPort}/readings/${recent}`);
            return res.status === 200 ? ((await res.json()) as { status: string }).status : res.status;
          },
          { timeout: 20_000, interval: 500 },
        )
        .toBe("committed");
      expect((await readyz()).code).toBe(200);
      await sleep(Math.max(0, 30_000 - (Date.now() - downAt)));
      await pg.up();
      await expect.poll(lagMetric, { timeout: 60_000, interval: 500 }).toBe(0);

      // PostgreSQL killed and back at once; then Redis killed and back from its AOF.
      await pg.restart({ kill: true });
      await sleep(3_000);
      await redis.restart?.({ kill: true });
      await sleep(3_000);

      // kill -9 of the bridge while batches move to the archive (one every second or so), three times.
      for (const pause of [1_300, 2_100, 3_700]) {
        await sleep(pause);
        bridge.proc.kill("SIGKILL");
        await sleep(500);
        bridge = start();
        await expect.poll(async () => (await readyz()).code, { timeout: 60_000, interval: 500 }).toBe(200);
      }
      await sleep(2_000);
      publishing = false;
      await flow;

      // Every reading is acknowledged (devices resend what was not acked)...
      await expect
        .poll(() => agents.reduce((n, a) => n + a.buffered, 0), { timeout: 90_000, interval: 500 })
        .toBe(0);
      // ...committed, archived and trimmed from Redis after its hot period.
      await expect
        .poll(async () => (await hot.getReadings(sent)).filter((r) => r !== null).length, {
          timeout: 90_000,
          interval: 1000,
        })
        .toBe(0);
      // A replay of a reading that left Redis long ago (the device's first): the bridge asks the
      // archive and answers replay; nothing is queued again.
      const first = sent[0] as string;
      const [old] = await archive.getReadings([first]);
      const device = devices[0] as IssuedDevice;
      const agent = agents[0] as DeviceAgent;
      const reading = toReading(old as StoredReading);
      const sig = normalizeLowS(
        device.curve,
        signDigest(
          device.curve,
          device.readingSecretKey,
          readingDigest(reading, { chainId: 31337, registry: contracts.oracle }),
        ),
      );
      const acksBefore = agent.acks.filter((x) => x.sequence === reading.sequence).length;
      await agent.publishRaw(readingsTopic(device.name), encodeReadingMessage(reading, sig));
      await expect
        .poll(() => agent.acks.filter((x) => x.sequence === reading.sequence).length, { timeout: 20_000 })
        .toBe(acksBefore + 1);
      expect(agent.acks.filter((x) => x.sequence === reading.sequence).at(-1)).toMatchObject({
        status: "rejected",
        reason: "replay",
      });
      // Had it been queued again, it would be committed within a window and two blocks.
      await sleep(4_000);
      expect(await hot.queueDepth()).toBe(0);

      const inArchive = await archive.getReadings(sent);
      expect(inArchive.filter((r) => r === null).length).toBe(0);

      // Exactly once: each id in one batch, and the batches on-chain hold as many readings as were sent.
      const roots = new Set(inArchive.map((r) => r?.root as Hex));
      const perId = new Map<string, number>();
      for (const root of roots)
        for (const id of (await store.getBatch(root))?.ids ?? []) perId.set(id, (perId.get(id) ?? 0) + 1);
      expect(sent.filter((id) => perId.get(id) !== 1)).toEqual([]);
      const events = await node.publicClient.getContractEvents({
        address: contracts.oracle,
        abi: sensorOracleAbi,
        eventName: "BatchCommitted",
        fromBlock: 0n,
      });
      expect(new Set(events.map((e) => e.args.root))).toEqual(roots);
      expect(events.reduce((n, e) => n + Number(e.args.count), 0)).toBe(sent.length);
      expect((await archive.stats()).readings).toBe(sent.length);

      // Served by the bridge with a proof that holds against the committed root, for every reading.
      let bad = 0;
      for (const id of sent) {
        const res = await fetch(`http://127.0.0.1:${httpPort}/readings/${id}`);
        const body = (await res.json()) as {
          status: string;
          reading: StoredReading;
          batch: { root: Hex };
          proof: Hex[];
        };
        const holds =
          res.status === 200 &&
          body.status === "committed" &&
          StandardMerkleTree.verify(
            body.batch.root,
            [...LEAF_TYPES],
            leafValues(toReading(body.reading)),
            body.proof,
          );
        if (!holds) bad += 1;
      }
      expect(bad).toBe(0);
      expect(sent.length).toBeGreaterThan(500);
      console.info(`archive faults: ${sent.length} readings sent, each committed once, archived and proven`);
      // Nothing was ever answered in a way a device takes as delivered without being stored.
      for (const a of agents)
        expect(a.acks.filter((x) => x.status === "rejected" && x.reason !== "replay")).toEqual([]);
    } finally {
      publishing = false;
      await flow.catch(() => {});
      await archive.close();
      await hot.close();
    }
  }, 600_000);
});
