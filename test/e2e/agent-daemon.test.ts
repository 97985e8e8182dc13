import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import type { AgentHealth } from "../../device-agent/agent-health.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { feedIdOf } from "../../protocol/index.js";
import { type AgentSite, commitCounts, siteOn, writeAgentConfig } from "../../testkit/agents.js";
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
const metricsOf = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
/** A counter's value in a Prometheus text exposition (0 when absent). */
const counter = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
};

/** `sensor-oracle agent run --config <file>` as the gateway runs it, with its stdin a pipe. */
type Daemon = {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};
const startDaemon = (config: string): Daemon => {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "cli/main.ts", "agent", "run", "--config", config],
    {
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { proc, stdout: () => out, stderr: () => err, exited };
};

const RESULT =
  /^agent stopped on SIGTERM: (\d+) readings taken, (\d+) acknowledged, (\d+) in the outbox for the next start$/;

/**
 * The daemon as issue 14 joins it: `agent run` with a config's feeds and inputs (the local HTTP
 * endpoint, a command every second, JSON lines on stdin), its health server, against a real
 * bridge (Mosquitto mTLS, Redis, the chain). What each input took is committed with its exact
 * scaled value and time; bad posts are refused with their reason and counted on /metrics; SIGTERM
 * ends it with its one line, and what was in flight is committed once after a restart.
 */
describe("agent run: the daemon's inputs to the chain (real Mosquitto, Redis, bridge, chain)", () => {
  let ca: FleetCa;
  let infra: TestInfra;
  let bridge: Bridge;
  let store: RedisStore;
  let site: AgentSite;
  let dir: string;
  let fleet: FleetCertificates;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    ca = await createFleetCa();
    infra = await startTestInfra(ca);
    fleet = new FleetCertificates(ca.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "agent-daemon",
      certificates: fleet,
      // Slower than a burst of posted readings: some are still in flight at SIGTERM.
      rateLimit: { perSecond: 40, burst: 20 },
    }));
    site = siteOn(ca, infra.broker, infra.stack);
    dir = mkdtempSync(join(tmpdir(), "so-agent-daemon-"));
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons) d.proc.kill("SIGKILL");
    await bridge?.stop();
    await store?.close();
    await Promise.all([infra?.broker.stop(), infra?.redis.stop(), infra?.stack.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("commits what HTTP, a command and stdin took, refuses bad posts with their reason, stops on SIGTERM and loses nothing", async () => {
    const d: IssuedDevice = await enrollDevice(infra.stack, ca, "p256");
    fleet.add(d.certPem);
    const [httpPort, healthPort] = [await freePort(), await freePort()];
    const config = writeAgentConfig(dir, d, site, {
      feeds: [
        { name: "temperature", decimals: 2, unit: "°C", min: -50, max: 100 },
        { name: "humidity", decimals: 1, unit: "%RH" },
      ],
      inputs: {
        stdin: true,
        commands: [{ feed: "humidity", command: "echo 45.5", intervalSec: 1 }],
        http: { port: httpPort },
      },
      outbox: { path: join(dir, `${d.name}.outbox.db`) },
      health: { port: healthPort },
      shutdownDrainMs: 300,
    });
    const first = startDaemon(config);
    daemons.push(first);
    await until(async () => (await healthOf(healthPort)) !== null, 60_000, "the agent's /healthz");
    await until(() => first.stderr().includes("readings taken at"), 30_000, "the inputs to start");

    const url = `http://127.0.0.1:${httpPort}/readings`;
    const post = async (body: string) => {
      const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const t = Math.floor(Date.now() / 1000) - 60;
    // Posted: one reading, then a list of two.
    const one = await post(JSON.stringify({ feed: "temperature", value: 21.37, takenAt: t }));
    expect(one.status, JSON.stringify(one.body)).toBe(201);
    const two = await post(
      JSON.stringify([
        { feed: "temperature", value: "-49.99", takenAt: t + 1 },
        { feed: "humidity", value: 87.5, takenAt: t + 2 },
      ]),
    );
    expect(two.status, JSON.stringify(two.body)).toBe(201);
    expect((two.body.sequences as string[]).length).toBe(2);
    // stdin: two good lines and one bad one.
    first.proc.stdin?.write(`{"feed":"temperature","value":"100","takenAt":${t + 3}}\n`);
    first.proc.stdin?.write("not a reading\n");
    first.proc.stdin?.write(`{"feed":"humidity","value":-0.5,"takenAt":${t + 4}}\n`);

    // Bad posts: each its 4xx and its reason, counted, the agent still serving.
    const notJson = await post("{temperature: 21");
    expect(notJson).toMatchObject({ status: 400, body: { error: "malformed" } });
    expect(String(notJson.body.message)).toMatch(/not JSON/);
    const unknown = await post(JSON.stringify({ feed: "pressure", value: 1013 }));
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      error: "invalid_readings",
      errors: [{ index: 0, reason: "unknown_feed" }],
    });
    const outOfRange = await post(JSON.stringify({ feed: "temperature", value: 100.01 }));
    expect(outOfRange.status).toBe(400);
    expect(outOfRange.body).toMatchObject({ errors: [{ index: 0, reason: "out_of_range" }] });
    const tooPrecise = await post(JSON.stringify({ feed: "temperature", value: 21.375 }));
    expect(tooPrecise.body).toMatchObject({ errors: [{ index: 0, reason: "too_precise" }] });
    const tooLarge = await post(
      JSON.stringify({ feed: "temperature", value: "1", pad: "x".repeat(70 * 1024) }),
    );
    expect(tooLarge).toMatchObject({ status: 413, body: { error: "too_large" } });

    // The command has run a few times; stdin's two readings are taken.
    const m = () => metricsOf(healthPort);
    const taken = (text: string, source: string) =>
      counter(text, `sensor_oracle_agent_input_readings_taken_total{source="${source}"}`);
    await until(
      async () => {
        const text = await m();
        return taken(text, "command") >= 3 && taken(text, "stdin") >= 2;
      },
      30_000,
      "3 command readings and 2 from stdin",
    );
    const metrics = await m();
    const refused = (source: string, reason: string) =>
      counter(
        metrics,
        `sensor_oracle_agent_input_readings_refused_total{source="${source}",reason="${reason}"}`,
      );
    expect(refused("http", "malformed")).toBe(1);
    expect(refused("http", "unknown_feed")).toBe(1);
    expect(refused("http", "out_of_range")).toBe(1);
    expect(refused("http", "too_precise")).toBe(1);
    expect(refused("http", "too_large")).toBe(1);
    expect(refused("stdin", "malformed")).toBe(1);
    expect(taken(metrics, "http")).toBe(3);
    expect(taken(metrics, "stdin")).toBe(2);
    expect(first.stderr()).toMatch(/stdin line 2: malformed: /);
    const health = (await healthOf(healthPort)) as AgentHealth;
    expect(health).toMatchObject({ ok: true, device: d.name, outboxFull: false, replayAlarms: 0 });
    expect(first.proc.exitCode).toBeNull();

    // A burst the rate-limited bridge cannot take in the drain time: in flight at SIGTERM.
    const burst = Array.from({ length: 200 }, (_, i) => ({
      feed: "humidity",
      value: (i / 10).toFixed(1),
      takenAt: t - 300 + i,
    }));
    const burstPosted = await post(JSON.stringify(burst));
    expect(burstPosted.status).toBe(201);
    first.proc.kill("SIGTERM");
    const exit = await first.exited;
    expect(exit.code, first.stderr()).toBe(0);
    const line = first.stdout().trim();
    const result = RESULT.exec(line);
    expect(result, line).not.toBeNull();
    const [takenTotal, , left] = [Number(result?.[1]), Number(result?.[2]), Number(result?.[3])];
    console.log(`agent daemon: ${line}`);
    expect(takenTotal).toBeGreaterThanOrEqual(3 + 2 + 3 + 200);

    // Restarted (stdin closed): it drains what was left, then stops with an empty outbox.
    const second = startDaemon(config);
    daemons.push(second);
    second.proc.stdin?.end();
    await until(
      async () => (await healthOf(healthPort))?.outbox.readings === 0,
      90_000,
      `the ${left} readings left to drain`,
    );
    second.proc.kill("SIGTERM");
    expect((await second.exited).code, second.stderr()).toBe(0);
    expect(second.stdout().trim()).toMatch(RESULT);
    if (left > 0) expect(second.stderr()).toMatch(new RegExp(`outbox ${left} readings`));

    // Every reading the first run took, committed exactly once, with its exact value and time.
    await bridge.flush();
    const seqs = Array.from({ length: takenTotal }, (_, i) => BigInt(i + 1));
    const c = await commitCounts(store, d.name, seqs);
    expect(c.lost).toEqual([]);
    expect(c.twice).toBe(0);
    expect(c.once).toBe(takenTotal);
    expect(bridge.metrics.rejected.sequence_conflict).toBe(0);
    const stored = await store.getReadings(seqs.map((s) => readingId(d.name, s)));
    const temp = feedIdOf("temperature");
    const hum = feedIdOf("humidity");
    const committed = stored.map(
      (r) => `${r?.feedId === temp ? "T" : r?.feedId === hum ? "H" : "?"} ${r?.value} ${r?.timestamp}`,
    );
    const expected = [
      `T 2137 ${t}`,
      `T -4999 ${t + 1}`,
      `H 875 ${t + 2}`,
      `T 10000 ${t + 3}`,
      `H -5 ${t + 4}`,
      ...burst.map((b, i) => `H ${Math.round(Number(b.value) * 10)} ${t - 300 + i}`),
    ];
    for (const e of expected)
      expect(
        committed.filter((x) => x === e),
        e,
      ).toHaveLength(1);
    // The posted readings have the sequences the endpoint answered.
    expect(committed[Number((one.body.sequences as string[])[0]) - 1]).toBe(`T 2137 ${t}`);
    // The command's readings: 45.5 on the humidity feed, at the time it ran (after the start).
    const fromCommand = committed.filter((x) => x.startsWith("H 455 "));
    expect(fromCommand.length).toBeGreaterThanOrEqual(3);
    for (const x of fromCommand) expect(Number(x.split(" ")[2])).toBeGreaterThan(t + 30);
    expect(committed.filter((x) => x.startsWith("?"))).toEqual([]);
  }, 300_000);
});
