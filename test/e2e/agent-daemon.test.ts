import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { readingId } from "../../bridge/store/types.js";
import type { AgentConfig } from "../../cli/agent-config.js";
import { COMMANDS } from "../../cli/command-list.js";
import { openAgentFromConfig } from "../../cli/commands/agent.js";
import type { AgentHealth } from "../../device-agent/agent-health.js";
import { parseFeeds } from "../../device-agent/feeds.js";
import { parseInputsConfig } from "../../device-agent/inputs/index.js";
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

/** Every key of the agent config (a compile error when AgentConfig gains or loses one). */
const CONFIG_KEYS: Record<keyof AgentConfig, true> = {
  deviceName: true,
  curve: true,
  certFile: true,
  caFile: true,
  token: true,
  software: true,
  chainId: true,
  registry: true,
  enrolUrl: true,
  renewal: true,
  brokerUrl: true,
  feeds: true,
  inputs: true,
  outbox: true,
  publishing: true,
  health: true,
  certificateWarnDays: true,
  shutdownDrainMs: true,
};
const SECTION_KEYS: {
  [K in "token" | "outbox" | "publishing" | "health" | "renewal"]: Record<
    keyof Required<AgentConfig>[K],
    true
  >;
} = {
  token: {
    modulePath: true,
    tokenLabel: true,
    pinFile: true,
    readingLabel: true,
    tlsLabel: true,
    engine: true,
  },
  outbox: { path: true, quotaBytes: true, startSequenceAbove: true },
  publishing: { maxInFlight: true, ackTimeoutMs: true, reconnectMinMs: true, reconnectMaxMs: true },
  health: { port: true, host: true },
  renewal: { checkEverySeconds: true },
};

/** The ```json blocks of a markdown page. */
const jsonBlocks = (page: string): string[] =>
  [...readFileSync(page, "utf8").matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string);

/** Keys the config parser would not read: top level and in its sections. */
const unknownKeys = (cfg: Record<string, unknown>): string[] => {
  const out = Object.keys(cfg).filter((k) => !(k in CONFIG_KEYS));
  for (const [section, keys] of Object.entries(SECTION_KEYS)) {
    const v = cfg[section];
    if (v && typeof v === "object")
      out.push(
        ...Object.keys(v)
          .filter((k) => !(k in keys))
          .map((k) => `${section}.${k}`),
      );
  }
  return out;
};

describe("the daemon's docs agree with its code", () => {
  it("GATEWAY.md's agent.json is read by agent run's own parsers (openAgentFromConfig, parseInputsConfig)", async () => {
    const blocks = jsonBlocks("docs/GATEWAY.md");
    const example = blocks.find((b) => b.includes('"deviceName"'));
    expect(example, "GATEWAY.md has an agent.json example").toBeDefined();
    const doc = JSON.parse(example as string) as Record<string, unknown>;
    expect(unknownKeys(doc)).toEqual([]);
    for (const k of ["feeds", "inputs", "outbox", "health"]) expect(doc, k).toHaveProperty(k);

    // The example's identity replaced by a real device's files (software keys); feeds, inputs,
    // outbox and health kept as written, only the outbox moved to a writable folder.
    const dir = mkdtempSync(join(tmpdir(), "so-gateway-doc-"));
    try {
      const ca = await createFleetCa();
      const d = await ca.issueDevice({ curve: "p256" });
      const site: AgentSite = {
        brokerUrl: "mqtts://127.0.0.1:1",
        caPem: ca.certPem,
        domain: { chainId: 31337, registry: `0x${"11".repeat(20)}` },
      };
      const identity = JSON.parse(readFileSync(writeAgentConfig(dir, d, site), "utf8")) as Record<
        string,
        unknown
      >;
      const { token: _token, ...rest } = doc;
      const outbox = { ...(doc.outbox as object), path: join(dir, "outbox.db") };
      const config = join(dir, "agent.json");
      writeFileSync(config, JSON.stringify({ ...rest, ...identity, outbox }));
      const opened = await openAgentFromConfig(config, { warn: () => {} });
      try {
        expect([...opened.feeds.keys()]).toEqual(
          (doc.feeds as unknown[]).map((f) => (typeof f === "string" ? f : (f as { name: string }).name)),
        );
        const inputs = parseInputsConfig(opened.config.inputs, opened.feeds);
        expect(inputs.commands?.map((c) => c.feed)).toEqual([
          "cold-room-7/temperature",
          "cold-room-7/humidity",
        ]);
        expect(inputs.http).toEqual({ socket: "/run/sensor-oracle/readings.sock" });
      } finally {
        await opened.agent.close({ drainMs: 0 });
      }
      // Each inputs snippet of section 4 is read against the example's feeds.
      const feeds = parseFeeds(doc.feeds);
      const snippets = blocks
        .filter((b) => b.trimStart().startsWith('"inputs"'))
        .flatMap((b) => b.trim().split(/\n(?="inputs")/));
      expect(snippets.length).toBeGreaterThanOrEqual(4);
      for (const sn of snippets) {
        const parsed = JSON.parse(`{${sn}}`) as { inputs: unknown };
        expect(() => parseInputsConfig(parsed.inputs, feeds), sn).not.toThrow();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a bad feeds or inputs section stops agent run at start with the error naming the key (GATEWAY.md)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "so-agent-badconfig-"));
    try {
      const ca = await createFleetCa();
      const d = await ca.issueDevice({ curve: "p256" });
      const site: AgentSite = {
        brokerUrl: "mqtts://127.0.0.1:1",
        caPem: ca.certPem,
        domain: { chainId: 31337, registry: `0x${"11".repeat(20)}` },
      };
      const cases: [Partial<AgentConfig>, RegExp][] = [
        [{ feeds: [{ name: "t", decimals: -1 }] }, /feeds\[0\]\.decimals/],
        [{ feeds: ["t"], inputs: { http: { host: "0.0.0.0", port: 8089 } } }, /inputs\.http\.host/],
        [
          { feeds: ["t"], inputs: { commands: [{ feed: "u", command: "echo 1", intervalSec: 1 }] } },
          /inputs\.commands\[0\]\.feed/,
        ],
      ];
      for (const [extra, key] of cases) {
        const daemon = startDaemon(writeAgentConfig(dir, d, site, extra));
        const exit = await daemon.exited;
        expect(exit.code, daemon.stderr()).toBe(1);
        expect(daemon.stderr()).toMatch(key);
        expect(daemon.stderr()).not.toMatch(/connected to the broker|inputs started/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("AGENT.md's daemon settings are keys agent run reads", () => {
    const settings = jsonBlocks("docs/AGENT.md").find((b) => b.includes('"shutdownDrainMs"'));
    expect(settings).toBeDefined();
    const doc = JSON.parse(settings as string) as Record<string, unknown>;
    expect(unknownKeys(doc)).toEqual([]);
    expect(() => parseFeeds(doc.feeds)).not.toThrow();
    expect(() => parseInputsConfig(doc.inputs, parseFeeds(doc.feeds))).not.toThrow();
  });

  it("agent run's help lists exactly the options it accepts, and AGENT.md uses only those", () => {
    const source = readFileSync("cli/commands/agent.ts", "utf8");
    const spec = /export async function agentRun[\s\S]*?args\(argv, \{([\s\S]*?)\}\)/.exec(source)?.[1] ?? "";
    const accepted = [...spec.matchAll(/^\s*"?([\w-]+)"?:/gm)].map((m) => m[1]);
    expect(accepted.length).toBeGreaterThan(3);
    const listed = COMMANDS.find((c) => c.name === "agent run")?.options.map((o) => o.name) ?? [];
    expect([...listed].sort()).toEqual([...accepted].sort());
    const agentMd = readFileSync("docs/AGENT.md", "utf8");
    const used = [...agentMd.matchAll(/sensor-oracle agent run([^\n`]*)/g)].flatMap((m) =>
      [...(m[1] as string).matchAll(/--([\w-]+)/g)].map((o) => o[1]),
    );
    expect(used.length).toBeGreaterThan(0);
    for (const o of used) expect(listed, `--${o} in AGENT.md`).toContain(o);
  });
});
