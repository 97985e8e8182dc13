import { type ChildProcess, exec, spawn } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { type Address, type Hex, keccak256, parseEther, toBytes, zeroAddress } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, readPushedFeeds } from "../../bridge/config.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import { checkDeploymentParameters, DeploymentParametersError } from "../../ignition/check-parameters.js";
import { type ChainNode, startHardhatNode } from "../../testkit/chain-node.js";
import { freePort, waitForPort } from "../../testkit/ports.js";

const sh = promisify(exec);
const ROOT = new URL("../..", import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, "docs/DEPLOY.md"), "utf8");
const DEPLOYMENTS = join(ROOT, "ignition/deployments/chain-31337");
const FEED_ID = keccak256(toBytes("cold-room-7/temperature"));

/** A fenced block of docs/DEPLOY.md marked `tested`: run in order; a `background` one keeps running. */
type Block = { script: string; background?: string };

/** The blocks of docs/DEPLOY.md marked `sh tested` (`sh tested background PORT_VARIABLE` for services). */
function testedBlocks(): Block[] {
  return [...DOC.matchAll(/^```sh tested(?: background (\w+))?\n([\s\S]*?)^```$/gm)].map((m) => ({
    script: m[2] as string,
    ...(m[1] ? { background: m[1] } : {}),
  }));
}

describe("Ignition parameters", () => {
  const good = { SensorOracle: { submitter: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" } };
  const feed = { name: "cold-room-7/temperature", feedId: FEED_ID, devices: [`0x${"ab".repeat(32)}`] };
  const refused = (params: object, modules = { feed: false }) => {
    try {
      checkDeploymentParameters(params as never, modules);
    } catch (err) {
      expect(err).toBeInstanceOf(DeploymentParametersError);
      return (err as DeploymentParametersError).key;
    }
    return null;
  };

  it("refuses a zero, missing or placeholder submitter and a zero operator", () => {
    expect(refused(good)).toBeNull();
    expect(refused({ SensorOracle: { submitter: zeroAddress } })).toBe("SensorOracle.submitter");
    expect(refused({ SensorOracle: {} })).toBe("SensorOracle.submitter");
    expect(refused({ SensorOracle: { submitter: "SET ME" } })).toBe("SensorOracle.submitter");
    expect(refused({ SensorOracle: { ...good.SensorOracle, operator: zeroAddress } })).toBe(
      "SensorOracle.operator",
    );
  });

  it("refuses a feed without devices or whose id is not keccak256 of its name", () => {
    expect(refused({ ...good, Feed: feed }, { feed: true })).toBeNull();
    expect(refused({ ...good, Feed: { ...feed, devices: [] } }, { feed: true })).toBe("Feed.devices");
    expect(refused({ ...good, Feed: { ...feed, feedId: keccak256(toBytes("other")) } }, { feed: true })).toBe(
      "Feed.feedId",
    );
  });

  it("leaves no sample whose submitter would pass unedited, except the local node's", () => {
    for (const network of ["sepolia", "baseSepolia", "opSepolia", "arbitrumSepolia"]) {
      const params = JSON.parse(readFileSync(join(ROOT, `ignition/parameters/${network}.json`), "utf8"));
      expect(refused(params), network).toBe("SensorOracle.submitter");
    }
    const local = JSON.parse(readFileSync(join(ROOT, "ignition/parameters/localhost.json"), "utf8"));
    expect(refused(local)).toBeNull();
  });
});

describe("config/bridge.sample.json", () => {
  it("loads with the bridge's own parser once the files it names exist, and its push feeds too", () => {
    const dir = mkdtempSync(join(tmpdir(), "so-sample-"));
    try {
      cpSync(join(ROOT, "config/bridge.sample.json"), join(dir, "bridge.json"));
      cpSync(join(ROOT, "config/push-feeds.sample.json"), join(dir, "push-feeds.json"));
      for (const f of [
        "broker/ca-chain.pem",
        "broker/bridge.pem",
        "broker/bridge.key",
        "secrets/submitter.key",
      ]) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), "");
      }
      mkdirSync(join(dir, "ca"));
      mkdirSync(join(dir, "devices"));
      writeFileSync(join(dir, "ca/ca-chain.pem"), "");
      writeFileSync(join(dir, "ca/crl.pem"), "");
      // The share group is the fleet's secret: the sample has none, and the bridge refuses to start without it.
      expect(() => loadConfig(join(dir, "bridge.json"), {})).toThrow(/mqtt\.shareGroup/);
      const config = loadConfig(join(dir, "bridge.json"), { SO_MQTT_SHARE_GROUP: "so-0123456789abcdef" });
      expect(config.chain.submitterKeyFile).toBe(join(dir, "secrets/submitter.key"));
      expect(config.fleet.caFile).toBe(join(dir, "ca/ca-chain.pem"));
      expect(config.push?.feedsFile).toBe(join(dir, "push-feeds.json"));
      expect(readPushedFeeds(config.push?.feedsFile as string)).toEqual([
        { feedId: FEED_ID, deviationBps: 50, heartbeatSec: 3600 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docs/DEPLOY.md, every tested command, against a local hardhat node", () => {
  let node: ChainNode;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const services: ChildProcess[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    rmSync(DEPLOYMENTS, { recursive: true, force: true });
    node = await startHardhatNode();
    dir = mkdtempSync(join(tmpdir(), "so-deploy-"));
    chmodSync(dir, 0o755); // Mosquitto started as root reads the fleet folder as user mosquitto
    // The document's "Settings", with this test's folder and free ports.
    env = {
      ...process.env,
      FLEET: join(dir, "fleet"),
      NETWORK: "localhost",
      CHAIN_ID: "31337",
      RPC_URL: node.url,
      LOCALHOST_RPC_URL: node.url, // hardhat.config.ts's localhost network
      BROKER_PORT: String(await freePort()),
      REDIS_PORT: String(await freePort()),
      BRIDGE_PORT: String(await freePort()),
      SOFTHSM2_CONF: join(dir, "fleet/softhsm/softhsm2.conf"),
    };
  });

  afterAll(async () => {
    for (const s of services) {
      try {
        process.kill(-(s.pid as number), "SIGTERM"); // the block's shell and what it started
      } catch {}
    }
    await Promise.all(
      services.map((s) => (s.exitCode === null ? new Promise((r) => s.once("exit", r)) : null)),
    );
    node?.stop();
    rmSync(DEPLOYMENTS, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = async (script: string) => {
    try {
      return await sh(script, { cwd: ROOT, env, shell: "/bin/bash", timeout: 180_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `${script}\nfailed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}\n${logs.join("")}`,
      );
    }
  };
  const start = async (script: string, portVariable: string) => {
    const proc = spawn("/bin/bash", ["-c", script], { cwd: ROOT, env, detached: true });
    let log = "";
    proc.stdout?.on("data", (d) => {
      log += d;
    });
    proc.stderr?.on("data", (d) => {
      log += d;
    });
    services.push(proc);
    logs.push(`\n--- ${script}`);
    await waitForPort(Number(env[portVariable]), proc, () => log, 60_000);
    const i = logs.length - 1;
    proc.on("close", () => {
      logs[i] = `\n--- ${script}\n${log.slice(-2000)}`;
    });
  };

  it("sets every variable the document's Settings export, and only those (and the localhost network's URL)", () => {
    const settings = /^```sh\n(export FLEET=[\s\S]*?)^```$/m.exec(DOC)?.[1] ?? "";
    const exported = [...settings.matchAll(/\b([A-Z][A-Z0-9_]+)=/g)].map((m) => m[1]);
    expect(exported.sort()).toEqual(
      [
        "FLEET",
        "NETWORK",
        "CHAIN_ID",
        "RPC_URL",
        "BROKER_PORT",
        "REDIS_PORT",
        "BRIDGE_PORT",
        "SOFTHSM2_CONF",
      ].sort(),
    );
    for (const name of exported) expect(env[name as string], name).toBeTruthy();
  });

  it("refuses a parameter file with a zero submitter before sending anything", async () => {
    const file = join(dir, "zero.json");
    writeFileSync(file, JSON.stringify({ SensorOracle: { submitter: zeroAddress } }));
    const out = await sh(
      `npx hardhat ignition deploy ignition/modules/SensorOracle.ts --network localhost --parameters ${file}`,
      { cwd: ROOT, env },
    ).catch((e: { stdout: string; stderr: string }) => e);
    expect(`${out.stdout}${out.stderr}`).toMatch(/SensorOracle\.submitter is the zero address/);
    expect(existsSync(DEPLOYMENTS)).toBe(false);
    expect(await node.admin.getTransactionCount({ address: node.admin.account.address })).toBe(0);
  });

  it("deploys, sets up CA, broker, Redis, a token device and a software one, a pushed feed and the bridge; the devices publish and a consumer verifies", async () => {
    const blocks = testedBlocks();
    // Keys (2), contracts (2), CA, broker (2), Redis, devices (3), feed, bridge (2), agents, proof, consumer.
    expect(blocks).toHaveLength(17);
    const out: string[] = [];
    for (const block of blocks) {
      if (block.background) await start(block.script, block.background);
      else out.push((await run(block.script)).stdout);
    }
    const all = out.join("\n");
    const fleet = env.FLEET as string;
    const read = (f: string) => readFileSync(join(fleet, f), "utf8").trim();
    const oracle = read("oracle.address") as Address;
    const submitter = read("secrets/submitter.address") as Address;

    // The deployment: roles granted, the submitter funded, the benchmarked bytecode deployed.
    expect(oracle).toBe("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    expect(
      await node.admin.readContract({
        address: oracle,
        abi: sensorOracleAbi,
        functionName: "hasRole",
        args: [keccak256(toBytes("SUBMITTER_ROLE")), submitter],
      }),
    ).toBe(true);
    expect(await node.admin.getBalance({ address: submitter })).toBeLessThan(parseEther("0.1"));
    expect(await node.admin.getBalance({ address: submitter })).toBeGreaterThan(parseEther("0.09"));
    const artifact = JSON.parse(
      readFileSync(join(ROOT, "artifacts/contracts/SensorOracle.sol/SensorOracle.json"), "utf8"),
    ) as {
      deployedBytecode: Hex;
      immutableReferences: Record<string, { start: number; length: number }[]>;
      buildInfoId: string;
    };
    // Ignition builds with the `production` profile: it must be the build bench:gas measured.
    const buildInfo = JSON.parse(
      readFileSync(join(ROOT, `artifacts/build-info/${artifact.buildInfoId}.json`), "utf8"),
    ) as { input: { settings: { optimizer: unknown; evmVersion: string } } };
    expect(buildInfo.input.settings.optimizer).toEqual({ enabled: true, runs: 10_000 });
    expect(buildInfo.input.settings.evmVersion).toBe("cancun");
    const masked = (code: string) => {
      const bytes = Buffer.from(code.slice(2), "hex");
      for (const refs of Object.values(artifact.immutableReferences))
        for (const { start, length } of refs) bytes.fill(0, start, start + length);
      return bytes.toString("hex");
    };
    expect(masked((await node.admin.getCode({ address: oracle })) as Hex)).toBe(
      masked(artifact.deployedBytecode),
    );

    // The device: registered on-chain by `device enroll`, its readings committed and pushed, verified by the consumer.
    const names = readdirSync(join(fleet, "devices")).map((f) => f.replace(/\.pem$/, ""));
    expect(names).toHaveLength(2);
    const curves = [];
    for (const name of names) {
      const device = await node.admin.readContract({
        address: oracle,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [`0x${name}`],
      });
      expect(device.status).toBe(1);
      curves.push(device.curve);
    }
    expect(curves.sort()).toEqual([1, 2]); // the software secp256k1 device and the token's P-256 one
    expect(all).toMatch(/3 readings signed in the token and published, 3 queued by the bridge/);
    expect(all).toMatch(/3 readings signed with the software key and published, 3 queued by the bridge/);
    expect(all).toMatch(/"status":"committed"/);
    expect(all).toMatch(
      /cold-room-7\/temperature: reading [0-9a-f]{64}:\d \(value -?\d+\) verified on-chain in batch 0x[0-9a-f]{64}; pushed value -?\d+ \(round \d+, \d+ s old\)/,
    );
  }, 300_000); // the first Hardhat command may compile the contracts (about 60 s here)
});
