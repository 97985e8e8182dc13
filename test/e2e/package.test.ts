import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FleetContracts } from "../../chain/deploy.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { registerDevice } from "../../fleet/registry-admin.js";
import {
  createFleetCa,
  type FleetCa,
  type IssuedCertificate,
  type IssuedDevice,
} from "../../pki/fleet-ca.js";
import { feedIdOf } from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { type ChainNode, deployOverHttp } from "../../testkit/chain-node.js";
import { startProcessInfra, writeBridgeConfig } from "../../testkit/infra.js";
import { freePort } from "../../testkit/ports.js";
import type { Service } from "../../testkit/process.js";

type Run = { status: number | null; stdout: string; stderr: string };

/** A command run to its end (never blocking this process: the test infrastructure runs here). */
function run(cmd: string, argv: string[], cwd: string, timeout = 240_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, argv, { cwd, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ status, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

const repo = process.cwd();
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;

/**
 * The package as a user gets it: `npm pack` (which builds dist/ through prepack), the tarball
 * installed with --omit=dev into an empty folder, and the CLI and a bridge run from there under
 * plain Node (no tsx), against Redis, Mosquitto with mTLS and `hardhat node`.
 */
describe("the npm package: packed, installed without dev dependencies, run", () => {
  let work: string;
  let app: string;
  let installed: string;
  let tarballFiles: string[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "so-package-"));
    app = join(work, "app");
    mkdirSync(app);
    const packed = await run("npm", ["pack", "--json", "--pack-destination", work], repo);
    expect(packed.status, packed.stderr).toBe(0);
    // prepack's output comes first; npm's JSON report starts on a line of its own.
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[$/m))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarballFiles = (info?.files ?? []).map((f) => f.path);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "try-sensor-oracle", private: true }));
    const install = await run(
      "npm",
      [
        "install",
        "--omit=dev",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        join(work, info?.filename ?? "missing.tgz"),
      ],
      app,
    );
    expect(install.status, install.stderr).toBe(0);
    installed = join(app, "node_modules", "sensor-oracle");
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("holds what users need and nothing of the tests", () => {
    expect(tarballFiles).toContain("dist/cli/main.js");
    expect(tarballFiles).toContain("LICENSE");
    expect(tarballFiles).toContain("contracts/interfaces/ISensorOracle.sol");
    expect(tarballFiles).toContain("dist/consumer/index.js");
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toContain("Apache License");
    expect(
      readFileSync(join(installed, "dist/cli/main.js"), "utf8").startsWith("#!/usr/bin/env node\n"),
    ).toBe(true);
    for (const f of tarballFiles) {
      expect(f, f).not.toMatch(/\.test\.|\.t\.sol$|^(test|testkit|bench|scripts|node_modules)\//);
      // Of the contracts, only the consumer kit: interfaces and mocks (docs/CONSUMERS.md).
      if (f.startsWith("contracts/")) expect(f, f).toMatch(/^contracts\/(interfaces|mocks)\//);
      if (f.endsWith(".ts")) expect(f).toMatch(/\.d\.ts$/);
    }
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { private?: boolean };
    expect(pkg.private).toBeUndefined();
  });

  it("installs only the runtime dependencies (no tsx, TypeScript, aedes, Hardhat or vitest)", () => {
    const modules = join(app, "node_modules");
    for (const dev of ["tsx", "typescript", "aedes", "hardhat", "vitest", "@biomejs/biome"])
      expect(existsSync(join(modules, dev)), dev).toBe(false);
    for (const runtime of ["fastify", "viem", "ioredis", "mqtt", "prom-client", "@fastify/swagger-ui"])
      expect(existsSync(join(modules, runtime)), runtime).toBe(true);
  });

  it("ships every module the compiled code loads by URL (the worker threads)", () => {
    const dist = join(installed, "dist");
    const loaded = filesUnder(dist)
      .filter((f) => f.endsWith(".js"))
      .flatMap((f) =>
        [...readFileSync(join(dist, f), "utf8").matchAll(/new URL\("(\.[^"]+)", import\.meta\.url\)/g)].map(
          (m) => join(dist, f, "..", m[1] as string),
        ),
      );
    expect(loaded.length).toBeGreaterThanOrEqual(2);
    for (const file of loaded) expect(existsSync(file), file).toBe(true);
  });

  it("loads every compiled module with the runtime dependencies alone", async () => {
    // Each module of dist/ imported by its package path (the CLI's entry point runs, so not it).
    const script = `
      import { readdirSync } from "node:fs";
      const files = readdirSync("node_modules/sensor-oracle/dist", { recursive: true })
        .filter((f) => /\\.m?js$/.test(f) && f !== "cli/main.js");
      const failed = [];
      for (const f of files)
        await import("sensor-oracle/" + f).catch((e) => failed.push(f + ": " + e.message.split("\\n")[0]));
      console.log(JSON.stringify({ loaded: files.length - failed.length, failed }));
      process.exit(0);`;
    const r = await run(process.execPath, ["--input-type=module", "-e", script], app);
    expect(r.status, r.stderr).toBe(0);
    const { loaded, failed } = JSON.parse(r.stdout) as { loaded: number; failed: string[] };
    expect(failed).toEqual([]);
    expect(loaded).toBeGreaterThan(50);
  }, 60_000);

  it("runs the CLI under plain Node with npx: --version, --help, a command's --help", async () => {
    let r = await run("npx", ["--no-install", "sensor-oracle", "--version"], app);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(version);
    r = await run("npx", ["--no-install", "sensor-oracle", "--help"], app);
    expect(r.status, r.stderr).toBe(0);
    for (const command of ["ca init", "device enroll", "device list", "bridge run", "completion bash"])
      expect(r.stdout).toContain(command);
    r = await run("npx", ["--no-install", "sensor-oracle", "device", "enroll", "--help"], app);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: sensor-oracle device enroll --dir <dir> --curve p256\|secp256k1/);
  }, 60_000);

  describe("a bridge started with `sensor-oracle bridge run` from the installed package", () => {
    let ca: FleetCa;
    let node: ChainNode;
    let redis: Service;
    let broker: Service;
    let contracts: FleetContracts;
    let bridge: ChildProcess;
    let output = "";
    let httpUrl: string;
    let devices: IssuedDevice[];
    const agents: DeviceAgent[] = [];

    beforeAll(async () => {
      ca = await createFleetCa();
      let bridgeCert: IssuedCertificate;
      ({ bridgeCert, node, redis, broker } = await startProcessInfra(ca));
      contracts = await deployOverHttp(node);
      devices = [await ca.issueDevice({ curve: "p256" }), await ca.issueDevice({ curve: "secp256k1" })];
      const dir = join(work, "bridge");
      mkdirSync(join(dir, "devices"), { recursive: true });
      for (const d of devices) {
        writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
        await registerDevice(
          { wallet: node.admin, publicClient: node.publicClient, registry: contracts.oracle },
          d,
          Math.floor(Date.now() / 1000) - 3600,
        );
      }
      const port = await freePort();
      httpUrl = `http://127.0.0.1:${port}`;
      const config = writeBridgeConfig(
        dir,
        ca,
        {
          bridgeCert,
          broker,
          redis: { url: redis.url, prefix: "package" },
          rpcUrl: node.url,
          contracts,
        },
        { batch: { intervalMs: 500, maxSize: 16 }, http: { port }, logLevel: "info" },
      );
      // Node itself on the installed bin (what npx runs), so that SIGTERM reaches the bridge.
      bridge = spawn(
        process.execPath,
        [join(app, "node_modules/.bin/sensor-oracle"), "bridge", "run", "--config", config],
        {
          cwd: app,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      bridge.stdout?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      bridge.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
      });
    }, 240_000);

    afterAll(async () => {
      for (const a of agents) await a.stop().catch(() => {});
      if (bridge && bridge.exitCode === null) bridge.kill("SIGKILL");
      await Promise.all([broker?.stop(), redis?.stop()]);
      node?.stop();
    });

    it("answers /healthz and /readyz, verifies a P-256 and a secp256k1 reading and commits them", async () => {
      const get = async (path: string) => {
        try {
          const res = await fetch(`${httpUrl}${path}`, { signal: AbortSignal.timeout(2_000) });
          return { status: res.status, text: await res.text() };
        } catch {
          return { status: 0, text: "" };
        }
      };
      await expect
        .poll(async () => (await get("/readyz")).status, { timeout: 90_000, interval: 250 })
        .toBe(200);
      expect(JSON.parse((await get("/healthz")).text)).toEqual({ ok: true });
      expect(output).toContain("bridge started");

      // One reading per curve: the P-256 one is checked on the verify worker thread (a .mjs in dist).
      const site = siteOn(ca, broker, { chainId: 31337, contracts });
      for (const d of devices) agents.push(await startDeviceAgent(d, site, { ackTimeoutMs: 5_000 }));
      const feedId = feedIdOf("package");
      for (const [i, a] of agents.entries()) await a.publish(feedId, BigInt(100 + i));
      await expect
        .poll(
          async () =>
            /^sensor_oracle_readings_committed_total (\d+)/m.exec((await get("/metrics")).text)?.[1],
          {
            timeout: 60_000,
            interval: 250,
          },
        )
        .toBe("2");
      const metrics = (await get("/metrics")).text;
      expect(metrics).toMatch(/^sensor_oracle_readings_accepted_total 2$/m);
      expect(metrics).toMatch(/^process_cpu_seconds_total /m);
      expect(metrics).toMatch(/^sensor_oracle_submitter_balance_ether \d/m);
      expect((await get("/docs/")).status).toBe(200);

      bridge.kill("SIGTERM");
      const code = await new Promise<number | null>((resolve) => {
        if (bridge.exitCode !== null) resolve(bridge.exitCode);
        else bridge.once("exit", (c) => resolve(c));
      });
      expect(code, output).toBe(0);
      expect(output).toContain("bridge stopped");
    }, 180_000);
  });
});
