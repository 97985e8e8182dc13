import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bridge, startBridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import { MemoryStore } from "../../bridge/store/memory-store.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import type { FleetContracts } from "../../chain/deploy.js";
import { deviceNameToId } from "../../protocol/index.js";
import { type ChainNode, DEV_KEYS, deployOverHttp, startHardhatNode } from "../../testkit/chain-node.js";
import { freePort } from "../../testkit/ports.js";
import { createSoftHsmToken, type SoftHsm, tokenCliOptions } from "../../testkit/softhsm.js";

const MOSQUITTO = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";

/** Run the CLI as its own process, without blocking this one (the bridge under test runs here). */
function cli(...argv: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", ...argv],
      { timeout: 120_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ status, stdout: stdout.trim(), stderr: stderr.trim() });
      },
    );
  });
}

describe("sensor-oracle CLI: one command per fleet task", () => {
  let node: ChainNode;
  let hsm: SoftHsm;
  let dir: string;
  let contracts: FleetContracts;
  let broker: ChildProcess;
  let port: number;
  // `agent run` against the test broker: `count` readings, 50 ms apart.
  const runAgent = (config: string, count: number) =>
    cli(
      "agent",
      "run",
      "--config",
      config,
      "--url",
      `mqtts://127.0.0.1:${port}`,
      "--count",
      String(count),
      "--interval-ms",
      "50",
    );
  // `device enroll` of a device whose keys the test token makes, with its PIN file or another.
  const enrollInToken = (fleet: string, curve: string, label: string, pinFile = hsm.pinFile) =>
    cli(
      "device",
      "enroll",
      "--dir",
      fleet,
      "--curve",
      curve,
      "--label",
      label,
      ...tokenCliOptions(hsm, pinFile),
    );
  let httpPort: number;
  let bridge: Bridge;
  let stopCrl: () => void;
  let name: string;
  let certificates: FleetCertificates;

  beforeAll(async () => {
    [node, port, httpPort] = await Promise.all([startHardhatNode(), freePort(), freePort()]);
    contracts = await deployOverHttp(node);
    hsm = createSoftHsmToken("fleet-token");
    dir = mkdtempSync(join(tmpdir(), "so-cli-"));
    chmodSync(dir, 0o755); // Mosquitto drops to user mosquitto and reads the broker files
    writeFileSync(join(dir, "operator.key"), `${DEV_KEYS.admin}\n`, { mode: 0o600 });
    process.env.SO_CA_PASSPHRASE = "cli test passphrase"; // ca init encrypts the root key with it
  }, 120_000);

  afterAll(async () => {
    stopCrl?.();
    await bridge?.stop();
    broker?.kill("SIGTERM");
    node?.stop();
    hsm?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates a fleet, configures the broker, enrols a token device that publishes, lists, revokes", async () => {
    const fleet = join(dir, "fleet");
    let r = await cli(
      "ca",
      "init",
      "--dir",
      fleet,
      "--name",
      "acme",
      "--rpc-url",
      node.url,
      "--chain-id",
      "31337",
      "--registry",
      contracts.oracle,
      "--operator-key-file",
      join(dir, "operator.key"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fleet "acme" created in .*registry 0x/);
    expect(readFileSync(join(fleet, "ca", "root-ca.key"), "utf8")).toContain("PRIVATE KEY");

    r = await cli("broker", "config", "--dir", fleet, "--port", String(port));
    expect(r.status, r.stderr).toBe(0);
    // The bridge's MQTT settings, with the fleet's secret share group.
    const bridgeMqtt = JSON.parse(readFileSync(join(fleet, "broker", "bridge-settings.json"), "utf8")).mqtt;
    expect(bridgeMqtt.shareGroup).toMatch(/^so-[0-9a-f]{32}$/);
    broker = spawn(MOSQUITTO, ["-c", join(fleet, "broker", "mosquitto.conf")], { stdio: "ignore" });

    r = await enrollInToken(fleet, "secp256k1", "cold-room-7");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^device [0-9a-f]{64} \(secp256k1\) enrolled: key in token "fleet-token", .* registered in block \d+/,
    );
    expect(r.stderr).toContain("generating a secp256k1 key in the token");
    name = (/device ([0-9a-f]{64})/.exec(r.stdout) as RegExpExecArray)[1] as string;
    const onChain = await node.publicClient.readContract({
      address: contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [deviceNameToId(name)],
    });
    expect(onChain.status).toBe(1);

    // The bridge, as an operator would run it against this fleet's files.
    certificates = new FleetCertificates(readFileSync(join(fleet, "ca", "ca-chain.pem"), "utf8"));
    expect(certificates.loadDirectory(join(fleet, "devices"))).toBe(1);
    stopCrl = certificates.followCrlFile(join(fleet, "ca", "crl.pem"), () => {}, 200);
    bridge = await startBridge({
      mqtt: {
        url: `mqtts://127.0.0.1:${port}`,
        ca: readFileSync(join(fleet, "broker", "ca-chain.pem"), "utf8"),
        cert: readFileSync(join(fleet, "broker", "bridge.pem"), "utf8"),
        key: readFileSync(join(fleet, "broker", "bridge.key"), "utf8"),
        shareGroup: bridgeMqtt.shareGroup,
      },
      certificates,
      store: new MemoryStore(),
      publicClient: node.publicClient,
      walletClient: createWalletClient({
        chain: hardhat,
        transport: http(node.url),
        account: privateKeyToAccount(DEV_KEYS.submitter),
      }),
      contracts,
      chainId: 31337,
      batchIntervalMs: 60_000,
      log: pino({ level: "silent" }),
      http: { port: httpPort },
    });

    const agentConfig = join(fleet, "agents", `${name}.json`);
    r = await runAgent(agentConfig, 3);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("3 readings signed in the token and published, 3 queued by the bridge");

    r = await cli(
      "device",
      "rotate",
      "--dir",
      fleet,
      "--name",
      name,
      "--label",
      "cold-room-7-2024",
      ...tokenCliOptions(hsm),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /rotated to key "cold-room-7-2024": .* rotated on-chain in block \d+, agent config updated$/,
    );
    expect(certificates.loadDirectory(join(fleet, "devices"))).toBe(2); // the new certificate beside the old
    r = await runAgent(agentConfig, 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed in the token and published, 2 queued by the bridge");

    r = await cli("device", "list", "--dir", fleet, "--bridge-url", `http://127.0.0.1:${httpPort}`);
    expect(r.status, r.stderr).toBe(0);
    // The last reading seen is the fifth: three before the rotation, two after.
    expect(r.stdout).toMatch(
      new RegExp(
        `${name}  secp256k1  expires \\S+  certificate valid\\s+on-chain active  last reading #5 signed 20\\d\\d-`,
      ),
    );
    expect(r.stdout.split("\n").at(-1)).toBe("1 devices, 1 with a valid certificate");

    r = await cli("device", "revoke", "--dir", fleet, "--name", name);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^device [0-9a-f]{64} revoked: CRL .* updated, revoked on-chain in block \d+$/);
    r = await cli("device", "status", "--dir", fleet, "--name", name);
    expect(r.stdout).toMatch(
      /certificate revoked, expires \S+, on-chain revoked since \d+, last reading - \(no bridge url\)$/,
    );

    // Still able to connect (Mosquitto read its CRL at start), but the bridge refuses the readings.
    r = await runAgent(agentConfig, 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed in the token and published, 0 queued by the bridge");
    expect(r.stderr).toContain("rejected (revoked)");
    expect(readdirSync(join(fleet, "devices"))).toHaveLength(2); // current and pre-rotation certificates
  });

  it("enrols a development device with software keys in files, which says so and publishes", async () => {
    const fleet = join(dir, "fleet");
    let r = await cli("device", "enroll", "--dir", fleet, "--curve", "p256", "--software");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^device ([0-9a-f]{64}) \(p256\) enrolled: software key in \S+\.key \(development only\), .* registered in block \d+/,
    );
    const devName = (/device ([0-9a-f]{64})/.exec(r.stdout) as RegExpExecArray)[1] as string;
    const agentConfig = JSON.parse(readFileSync(join(fleet, "agents", `${devName}.json`), "utf8"));
    expect(agentConfig.token).toBeUndefined();
    expect(statSync(agentConfig.software.keyFile).mode & 0o077).toBe(0); // owner only
    expect(certificates.loadDirectory(join(fleet, "devices"))).toBe(3);

    r = await runAgent(join(fleet, "agents", `${devName}.json`), 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("software signer: the reading key is held in memory, not in a hardware token");
    expect(r.stdout).toBe("2 readings signed with the software key and published, 2 queued by the bridge");
    r = await cli("device", "enroll", "--dir", fleet, "--curve", "p256", "--software", "--module", "x.so");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("sensor-oracle device enroll: --software takes no token options");
  });

  it("explains each failure in one line with a non-zero exit", async () => {
    const wrongPin = join(dir, "wrong-pin");
    writeFileSync(wrongPin, "000000\n");
    const fleet = join(dir, "fleet");
    let r = await enrollInToken(fleet, "p256", "x", wrongPin);
    expect(r.status).toBe(1);
    expect(r.stderr.split("\n").at(-1)).toMatch(
      /^sensor-oracle: The token refused the PIN\..*\[TokenError:pin_incorrect\]$/,
    );
    r = await enrollInToken(join(dir, "nowhere"), "p256", "x");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sensor-oracle: No fleet in .*: run "sensor-oracle ca init/);
    r = await enrollInToken(fleet, "ed25519", "x");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("sensor-oracle device enroll: --curve must be p256 or secp256k1");
    r = await cli("device", "revoke", "--dir", fleet);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("sensor-oracle device revoke: --name is required");
  });
});
