import { appendFileSync, copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import type { AgentHealth } from "../../device-agent/agent-health.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import {
  type AgentProcess,
  type AgentSite,
  commitCounts,
  siteOn,
  startAgentProcess,
  writeAgentConfig,
} from "../../testkit/agents.js";
import { startTestBridge, startTestInfra, type TestInfra } from "../../testkit/infra.js";
import { freePort } from "../../testkit/ports.js";
import { enrollDevice } from "../../testkit/stack.js";

const until = async (cond: () => boolean | Promise<boolean>, ms = 60_000, what = "condition") => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const healthOf = async (port: number): Promise<AgentHealth | null> => {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as AgentHealth;
  } catch {
    return null;
  }
};
const maxOf = (xs: bigint[]) => {
  let m = 0n;
  for (const x of xs) if (x > m) m = x;
  return m;
};

/**
 * The agent as the gateway runs it (`sensor-oracle agent run`, its own process, an outbox file)
 * against a real bridge (Mosquitto mTLS, Redis, the chain), killed with SIGKILL while readings
 * are in flight, and once more with its files taken as a power cut leaves them.
 */
describe("agent run: kill -9 and power cuts (real Mosquitto, Redis, bridge, chain)", () => {
  let ca: FleetCa;
  let infra: TestInfra;
  let bridge: Bridge;
  let store: RedisStore;
  let site: AgentSite;
  let dir: string;
  let fleet: FleetCertificates;
  const procs: AgentProcess[] = [];

  beforeAll(async () => {
    ca = await createFleetCa();
    infra = await startTestInfra(ca);
    fleet = new FleetCertificates(ca.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "agent-crash",
      certificates: fleet,
      // Slower than the agent takes readings (about 100/s): a backlog builds up, unacknowledged at the kill.
      rateLimit: { perSecond: 40, burst: 20 },
    }));
    site = siteOn(ca, infra.broker, infra.stack);
    dir = mkdtempSync(join(tmpdir(), "so-agent-crash-"));
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) p.proc.kill("SIGKILL");
    await bridge?.stop();
    await store?.close();
    await Promise.all([infra?.broker.stop(), infra?.redis.stop(), infra?.stack.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const newDevice = async (): Promise<IssuedDevice> => {
    const d = await enrollDevice(infra.stack, ca, "p256");
    fleet.add(d.certPem);
    return d;
  };
  const run = (config: string, args: string[]) => {
    const p = startAgentProcess(config, args);
    procs.push(p);
    return p;
  };

  /** Run the daemon on `config` until its outbox is empty, then SIGTERM it: exits 0 with its one line. */
  const drainWithDaemon = async (config: string) => {
    const port = await freePort();
    const daemon = run(config, ["--health-port", String(port)]);
    await until(async () => (await healthOf(port))?.outbox.readings === 0, 90_000, "the outbox to drain");
    const health = (await healthOf(port)) as AgentHealth;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    daemon.proc.kill("SIGTERM");
    const exit = await daemon.exited;
    return { exit, health, metrics, stdout: daemon.stdout().trim(), stderr: daemon.stderr() };
  };

  it("commits every reading taken before a kill -9 exactly once after a restart", async () => {
    const d = await newDevice();
    const config = writeAgentConfig(dir, d, site);
    // Readings every 5 ms; killed with SIGKILL once 300 are on disk, many of them in flight.
    const first = run(config, ["--simulate", "100000", "--interval-ms", "5"]);
    await until(() => first.taken.length >= 300, 90_000, "300 readings taken");
    first.proc.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    const taken = [...first.taken];

    const { exit, health, metrics, stdout, stderr } = await drainWithDaemon(config);
    expect(exit.code).toBe(0);
    // The restarted agent found readings the bridge had not acknowledged before the kill.
    const kept = Number(/outbox (\d+) readings/.exec(stderr)?.[1]);
    console.log(`kill -9: ${kept} readings unacknowledged in the outbox at the restart`);
    expect(kept).toBeGreaterThan(0);
    expect(stdout).toMatch(
      /^agent stopped on SIGTERM: \d+ readings taken, \d+ acknowledged, 0 in the outbox for the next start$/,
    );
    expect(health).toMatchObject({ ok: true, outboxFull: false, replayAlarms: 0, device: d.name });
    expect(health.certificate?.expiresInSeconds).toBeGreaterThan(0);
    for (const name of [
      "sensor_oracle_agent_outbox_readings 0",
      "sensor_oracle_agent_readings_acknowledged_total",
      "sensor_oracle_agent_certificate_expires_in_seconds",
      "process_resident_memory_bytes",
    ])
      expect(metrics).toContain(name);

    await bridge.flush();
    const c = await commitCounts(store, d.name, taken);
    console.log(
      `kill -9 after ${taken.length} readings taken: ${c.once} committed once, ${c.twice} twice, ${c.lost.length} lost`,
    );
    expect(c.lost).toEqual([]);
    expect(c.twice).toBe(0);
    expect(c.once).toBe(taken.length);
    expect(bridge.metrics.rejected.sequence_conflict).toBe(0);
  }, 240_000);

  it("after a power cut (files as on disk at the kill, a torn WAL write) reuses no sequence and loses nothing taken", async () => {
    const d = await newDevice();
    const outboxPath = join(dir, `${d.name}.outbox.db`);
    const config = writeAgentConfig(dir, d, site, { outbox: { path: outboxPath } });
    const first = run(config, ["--simulate", "100000", "--interval-ms", "5"]);
    await until(() => first.taken.length >= 300, 90_000, "300 readings taken");
    // The power cut: the process frozen, its files copied as they are, then killed; the copy is
    // what the gateway finds at boot, with half a page of the write in progress at the WAL's end.
    first.proc.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 300));
    const taken = [...first.taken];
    const cut = join(dir, `${d.name}.power-cut.db`);
    copyFileSync(outboxPath, cut);
    if (existsSync(`${outboxPath}-wal`)) copyFileSync(`${outboxPath}-wal`, `${cut}-wal`);
    first.proc.kill("SIGKILL");
    await first.exited;
    appendFileSync(`${cut}-wal`, Buffer.alloc(2_000, 0x5a));
    const after = writeAgentConfig(dir, d, site, { outbox: { path: cut } });

    // New readings after the cut get sequences above every one used: all queued, none a conflict.
    const second = run(after, ["--simulate", "50", "--interval-ms", "5"]);
    const secondExit = await second.exited;
    expect(secondExit.code, second.stderr()).toBe(0);
    expect(second.stdout().trim()).toBe(
      "50 readings signed with the software key and published, 50 queued by the bridge",
    );
    expect(second.taken.every((s) => s > maxOf(taken))).toBe(true);

    const { exit } = await drainWithDaemon(after);
    expect(exit.code).toBe(0);
    await bridge.flush();
    const all = [...taken, ...second.taken];
    const c = await commitCounts(store, d.name, all);
    console.log(
      `power cut after ${taken.length} readings taken, ${second.taken.length} more after it: ` +
        `${c.once} committed once, ${c.twice} twice, ${c.lost.length} lost`,
    );
    expect(c.lost).toEqual([]);
    expect(c.twice).toBe(0);
    expect(c.once).toBe(all.length);
    expect(bridge.metrics.rejected.sequence_conflict).toBe(0);
  }, 240_000);
});
