import { type ChildProcess, execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createWalletClient, type Hex, http, parseAbiItem, toEventSelector } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bridge, startBridge } from "../../bridge/bridge.js";
import { certificateFingerprint, FleetCertificates } from "../../bridge/certificates.js";
import { toReading } from "../../bridge/checks.js";
import { MemoryStore } from "../../bridge/store/memory-store.js";
import { sensorFeedsAbi, sensorOracleAbi } from "../../chain/abi.js";
import type { FleetContracts } from "../../chain/deploy.js";
import { createDeviceCsr, softwareCsrKey } from "../../device-agent/csr.js";
import { estEnroll } from "../../fleet/enrolment-client.js";
import { p256SecretFromPem } from "../../pki/secret-key.js";
import {
  deviceIdOf,
  deviceIdToName,
  deviceNameToId,
  feedIdOf,
  publicKeyOf,
  randomSecretKey,
} from "../../protocol/index.js";
import { type ChainNode, DEV_KEYS, deployOverHttp, startHardhatNode } from "../../testkit/chain-node.js";
import { openssl, opensslCa, opensslKey, opensslSign } from "../../testkit/openssl.js";
import { freePort } from "../../testkit/ports.js";
import { createSoftHsmToken, type SoftHsm, tokenCliOptions } from "../../testkit/softhsm.js";

const MOSQUITTO = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";

type Run = { status: number | null; stdout: string; stderr: string };

function cli(...argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", ...argv],
      { timeout: 180_000, env: { ...process.env, SO_OPERATOR: "alice@acme" } },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ status, stdout: stdout.trim(), stderr: stderr.trim() });
      },
    );
  });
}

type Served = {
  status: string;
  reading: { deviceId: Hex; feedId: Hex; value: string; timestamp: string; sequence: string };
  signature: Hex;
  proof?: Hex[];
};

/**
 * The second half of enrolment, against real parts: an EST enrolment endpoint (`enrol serve`,
 * its own process) in front of a fleet folder whose CA OpenSSL made, Mosquitto with mTLS and the
 * fleet CRL, a Hardhat node with the contracts, the bridge in this process. Chips whose keys and
 * certificates a "manufacturer" CA made enrol themselves (`agent enrol`) and publish; one not on
 * the allow-list is refused; a device renews while it publishes, rotates when the operator asks,
 * is revoked with others in one command, and is decommissioned; readings signed before keep
 * verifying on-chain (verifyReading) throughout.
 */
describe("zero-touch enrolment, renewal, rotation, revocation at scale, decommissioning", () => {
  let node: ChainNode;
  let dir: string;
  let fleet: string;
  let contracts: FleetContracts;
  let broker: ChildProcess;
  let port: number;
  let estPort: number;
  let endpoint: ChildProcess;
  let endpointErr = "";
  let bridge: Bridge;
  let certificates: FleetCertificates;
  let stopCrl: () => void;
  let scan: NodeJS.Timeout;
  let hsm: SoftHsm;
  let tokenChip: string;
  let maker: string;
  const chips: Record<string, { name: string; dir: string; config: string }> = {};

  const device = async (name: string) =>
    node.publicClient.readContract({
      address: contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [deviceNameToId(name)],
    });
  const registrationTxs = async () =>
    (
      await node.publicClient.getLogs({
        address: contracts.oracle,
        event: parseAbiItem(
          "event DeviceRegistered(bytes32 indexed deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)",
        ),
        fromBlock: 0n,
      })
    ).map((l) => ({ id: l.args.deviceId as string, tx: l.transactionHash }));
  const runAgent = (config: string, count: number, intervalMs = 50) =>
    cli(
      "agent",
      "run",
      "--config",
      config,
      "--url",
      `mqtts://127.0.0.1:${port}`,
      "--feed",
      "plant/temperature",
      "--count",
      String(count),
      "--interval-ms",
      String(intervalMs),
    );
  const audit = () =>
    readFileSync(join(fleet, "audit.log"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; device?: string; details?: Record<string, unknown> });
  /** The device's last reading, committed on-chain by the bridge: what verifyReading takes. */
  const lastReadingCommitted = async (name: string): Promise<Served> => {
    const d = (await bridge.app.inject({ method: "GET", url: `/devices/${name}` })).json() as {
      lastReading: { sequence: string };
    };
    await bridge.flush();
    const res = await bridge.app.inject({
      method: "GET",
      url: `/readings/${name}:${d.lastReading.sequence}`,
    });
    const served = res.json() as Served;
    expect(served.status).toBe("committed");
    return served;
  };
  const verifyOnChain = (r: Served) =>
    node.publicClient.readContract({
      address: contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "verifyReading",
      args: [toReading(r.reading), r.signature, r.proof as Hex[]],
    });

  /** A chip: a P-256 key made "at the factory", certified by the manufacturer's issuing CA. */
  const chip = (ca: { issuing: string; issuingKey: string }, id: string) => {
    const where = join(dir, `chip-${id}`);
    mkdirSync(where);
    const pub = opensslKey(where, "tls.key", "p256");
    chmodSync(join(where, "tls.key"), 0o600);
    openssl(where, "req", "-new", "-key", "tls.key", "-subj", `/CN=sn${id}`, "-out", "factory.csr");
    opensslSign(where, { csr: "factory.csr", caCert: ca.issuing, caKey: ca.issuingKey, out: "leaf.pem" });
    writeFileSync(
      join(where, "factory.pem"),
      readFileSync(join(where, "leaf.pem"), "utf8") + readFileSync(ca.issuing, "utf8"),
    );
    return { id, where, pub, name: deviceIdToName(deviceIdOf("p256", pub)) };
  };
  const enrol = (c: { where: string }) =>
    cli(
      "agent",
      "enrol",
      "--url",
      `https://127.0.0.1:${estPort}`,
      "--ca",
      join(fleet, "ca", "ca-chain.pem"),
      "--factory-cert",
      join(c.where, "factory.pem"),
      "--config-dir",
      join(c.where, "agent"),
      "--software",
      "--keys-dir",
      c.where,
    );

  beforeAll(async () => {
    [node, port, estPort] = await Promise.all([startHardhatNode(), freePort(), freePort()]);
    contracts = await deployOverHttp(node);
    dir = mkdtempSync(join(tmpdir(), "so-zero-touch-"));
    chmodSync(dir, 0o755); // Mosquitto drops to user mosquitto and reads the broker files
    writeFileSync(join(dir, "operator.key"), `${DEV_KEYS.admin}\n`, { mode: 0o600 });
    const caDir = join(dir, "openssl-ca");
    mkdirSync(caDir);
    const ca = opensslCa(caDir, "Acme");
    fleet = join(dir, "fleet");
    let r = await cli(
      "ca",
      "init",
      "--dir",
      fleet,
      "--name",
      "acme",
      "--import-root",
      ca.root,
      "--import-issuing",
      ca.issuing,
      "--import-issuing-key",
      ca.issuingKey,
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
    r = await cli("broker", "config", "--dir", fleet, "--port", String(port));
    expect(r.status, r.stderr).toBe(0);
    broker = spawn(MOSQUITTO, ["-c", join(fleet, "broker", "mosquitto.conf")], { stdio: "ignore" });
    writeFileSync(join(dir, "mosquitto.pid"), `${broker.pid}\n`);
    const bridgeMqtt = JSON.parse(readFileSync(join(fleet, "broker", "bridge-settings.json"), "utf8")).mqtt;
    certificates = new FleetCertificates(readFileSync(join(fleet, "ca", "ca-chain.pem"), "utf8"));
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
      batchIntervalMs: 600_000,
      log: pino({ level: "silent" }),
    });
    // As bridge/server.ts does every 5 s: pick up new certificate files (every 3 s here).
    scan = setInterval(() => certificates.scanDirectory(join(fleet, "devices")), 3_000);
    // The manufacturer, and the operator's allow-list (our manifest form: factory certificates).
    maker = join(dir, "manufacturer");
    mkdirSync(maker);
  }, 240_000);

  afterAll(async () => {
    endpoint?.kill("SIGTERM");
    clearInterval(scan);
    stopCrl?.();
    await bridge?.stop();
    broker?.kill("SIGTERM");
    node?.stop();
    hsm?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("enrols factory-key devices zero-touch, registered together in one registerBatch; they publish; a chip not on the allow-list is refused", async () => {
    const mca = opensslCa(maker, "Chipmaker");
    const listed = ["a", "b", "d", "e"].map((id) => chip(mca, id));
    // A chip whose factory key is in a SoftHSM2 token: the manufacturer certifies the token's CSR.
    hsm = createSoftHsmToken("chip-token");
    tokenChip = join(dir, "chip-token");
    mkdirSync(tokenChip);
    let k = await cli("agent", "keygen", "--curve", "p256", "--label", "slot0", ...tokenCliOptions(hsm));
    expect(k.status, k.stderr).toBe(0);
    k = await cli(
      "agent",
      "csr",
      "--curve",
      "p256",
      "--label",
      "slot0",
      "--out",
      join(tokenChip, "factory.csr"),
      ...tokenCliOptions(hsm),
    );
    expect(k.status, k.stderr).toBe(0);
    opensslSign(tokenChip, {
      csr: "factory.csr",
      caCert: mca.issuing,
      caKey: mca.issuingKey,
      out: "leaf.pem",
    });
    writeFileSync(
      join(tokenChip, "factory.pem"),
      readFileSync(join(tokenChip, "leaf.pem"), "utf8") + readFileSync(mca.issuing, "utf8"),
    );
    const unlisted = chip(mca, "c");
    writeFileSync(
      join(dir, "allow.json"),
      JSON.stringify({
        version: 1,
        devices: [...listed, { where: tokenChip }].map((c) => ({
          factoryCertificate: [
            readFileSync(join(c.where, "leaf.pem"), "utf8"),
            readFileSync(mca.issuing, "utf8"),
          ],
        })),
      }),
    );
    endpoint = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "cli/main.ts",
        "enrol",
        "serve",
        "--dir",
        fleet,
        "--port",
        String(estPort),
        "--host",
        "127.0.0.1",
        "--manifest",
        join(dir, "allow.json"),
        "--manufacturer-ca",
        mca.root,
        "--batch-window-ms",
        "3000",
        "--certificate-settle-ms",
        "3500",
        "--broker-url",
        `mqtts://127.0.0.1:${port}`,
        "--feeds",
        "plant/temperature",
      ],
      { env: { ...process.env, SO_OPERATOR: "alice@acme" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
      endpoint.stderr?.on("data", (b: Buffer) => {
        endpointErr += b.toString();
        if (endpointErr.includes("enrolment endpoint on https://")) resolve();
      });
      endpoint.once("exit", () => reject(new Error(`enrol serve exited: ${endpointErr}`)));
    });
    expect(endpointErr).toContain("zero-touch for 5 factory keys");

    const before = (await registrationTxs()).length;
    const runs = await Promise.all(listed.map((c) => enrol(c)));
    for (const [i, r] of runs.entries()) {
      expect(r.status, r.stderr).toBe(0);
      const c = listed[i] as (typeof listed)[number];
      expect(r.stdout).toMatch(
        new RegExp(
          `^device ${c.name} enrolled zero-touch: agent config written to \\S+; start it with: sensor-oracle agent run --config \\S+ --url mqtts://127\\.0\\.0\\.1:${port} --feed plant/temperature$`,
        ),
      );
      chips[c.id] = { name: c.name, dir: c.where, config: join(c.where, "agent", `${c.name}.json`) };
      expect((await device(c.name)).status).toBe(1);
      // The fleet certificate is for the factory key itself.
      const cert = new X509Certificate(readFileSync(join(c.where, "agent", `${c.name}.pem`)));
      const spki = cert.publicKey.export({ format: "der", type: "spki" });
      expect(Buffer.from(spki.subarray(spki.length - 65)).equals(Buffer.from(c.pub))).toBe(true);
    }
    // Four devices enrolling at once: one registerBatch transaction.
    const regs = (await registrationTxs()).slice(before);
    expect(regs).toHaveLength(4);
    expect(new Set(regs.map((x) => x.tx)).size).toBe(1);
    // A device that asks again (its answer lost) gets its certificate again, registered once.
    const first = listed[0] as (typeof listed)[number];
    const issued = readFileSync(join(fleet, "devices", `${first.name}.pem`), "utf8");
    const again = await enrol(first);
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(first.where, "agent", `${first.name}.pem`), "utf8")).toBe(issued);
    expect((await registrationTxs()).length).toBe(before + 4);

    // Not on the allow-list: refused, audited, nothing issued or registered.
    const r = await enrol(unlisted);
    expect(r.status).toBe(1);
    expect(r.stderr.split("\n").at(-1)).toMatch(
      /^sensor-oracle: The enrolment endpoint refused: EnrolmentError:not_allowed: The device's factory key is not on the fleet's allow-list\. \[EnrolmentClientError:refused\]$/,
    );
    expect((await device(unlisted.name)).status).toBe(0);
    expect(existsSync(join(fleet, "devices", `${unlisted.name}.pem`))).toBe(false);
    expect(audit().at(-1)).toMatchObject({
      action: "enrolment_refused",
      details: { reason: "EnrolmentError:not_allowed" },
    });

    certificates.loadDirectory(join(fleet, "devices"));
    const a = chips.a as (typeof chips)[string];
    const run = await runAgent(a.config, 2);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("2 readings signed with the software key and published, 2 queued by the bridge");
  }, 240_000);

  it("enrols a SoftHSM2 device zero-touch with its token-held factory key; it publishes and renews through the token", async () => {
    let r = await cli(
      "agent",
      "enrol",
      "--url",
      `https://127.0.0.1:${estPort}`,
      "--ca",
      join(fleet, "ca", "ca-chain.pem"),
      "--factory-cert",
      join(tokenChip, "factory.pem"),
      "--config-dir",
      join(tokenChip, "agent"),
      "--label",
      "slot0",
      ...tokenCliOptions(hsm),
    );
    expect(r.status, r.stderr).toBe(0);
    const name = (
      /^device ([0-9a-f]{64}) enrolled zero-touch/.exec(r.stdout) as RegExpExecArray
    )[1] as string;
    const config = join(tokenChip, "agent", `${name}.json`);
    expect(JSON.parse(readFileSync(config, "utf8")).token).toMatchObject({
      readingLabel: "slot0",
      tlsLabel: "slot0",
    });
    // Registered on its own (no other device came within the batch window).
    await new Promise((res) => setTimeout(res, 1_500));
    expect((await device(name)).status).toBe(1);
    r = await runAgent(config, 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed in the token and published, 2 queued by the bridge");
    r = await cli("agent", "renew", "--config", config, "--now");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^device ${name} renewed its certificate`));
    await new Promise((res) => setTimeout(res, 3_500));
    r = await runAgent(config, 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed in the token and published, 2 queued by the bridge");
  }, 180_000);

  it("renews a device's certificate while it is connected and publishing: no reading lost", async () => {
    const a = chips.a as (typeof chips)[string];
    const oldCert = readFileSync(join(fleet, "devices", `${a.name}.pem`), "utf8");
    let published = false;
    const publishing = runAgent(a.config, 50, 200).finally(() => {
      published = true;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const r = await cli("agent", "renew", "--config", a.config, "--now");
    expect(r.status, r.stderr).toBe(0);
    // Renewed (and the registry moved to the new certificate) while the agent still publishes.
    expect(published).toBe(false);
    expect(r.stdout).toMatch(new RegExp(`^device ${a.name} renewed its certificate; next renewal due \\S+$`));
    const newCert = readFileSync(join(fleet, "devices", `${a.name}.pem`), "utf8");
    expect(newCert).not.toBe(oldCert);
    expect(readFileSync(join(a.dir, "agent", `${a.name}.pem`), "utf8").replace(/\s+/g, "")).toBe(
      newCert.replace(/\s+/g, ""),
    );
    // The registry follows the new certificate (same key).
    certificates.loadDirectory(join(fleet, "devices"));
    expect((await device(a.name)).certFingerprint).toBe(certificateFingerprint(newCert));
    const run = await publishing;
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      "50 readings signed with the software key and published, 50 queued by the bridge",
    );
    // A renewal that is not due yet does nothing.
    const again = await cli("agent", "renew", "--config", a.config);
    expect(again.stdout).toMatch(/nothing to do, next renewal due/);
    expect(audit().filter((e) => e.action === "renewed" && e.device === a.name)).toHaveLength(1);
  }, 180_000);

  it("rotates a device's key when the operator queues it; readings signed before verify on-chain", async () => {
    const a = chips.a as (typeof chips)[string];
    const before = await lastReadingCommitted(a.name);
    let r = await cli("device", "rotate", "--dir", fleet, "--name", a.name, "--queue");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^rotation of device ${a.name} queued`));
    const keyBefore = (await device(a.name)).x;
    r = await cli("agent", "renew", "--config", a.config);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^device ${a.name} rotated to a new key as the operator asked`));
    const config = JSON.parse(readFileSync(a.config, "utf8"));
    expect(config.software.keyFile).not.toBe(join(a.dir, "tls.key"));
    expect((await device(a.name)).x).not.toBe(keyBefore);
    expect(JSON.parse(readFileSync(join(fleet, "rotation-queue.json"), "utf8"))).toEqual({});
    expect(audit().some((e) => e.action === "rotated" && e.device === a.name)).toBe(true);
    // The reading signed with the old key, before the rotation, still verifies on-chain.
    await expect(verifyOnChain(before)).resolves.toMatch(/^0x[0-9a-f]{64}$/);
    // The device publishes on with its new key, under its name.
    certificates.loadDirectory(join(fleet, "devices"));
    const run = await runAgent(a.config, 2);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("2 readings signed with the software key and published, 2 queued by the bridge");
    await expect(verifyOnChain(await lastReadingCommitted(a.name))).resolves.toMatch(/^0x/);
  }, 180_000);

  it("rotates the key the operator queues while the agent runs and publishes: every reading committed, each verifying with the key of its time", async () => {
    const a = chips.a as (typeof chips)[string];
    // The running agent asks the endpoint every second (hourly by default).
    const cfg = JSON.parse(readFileSync(a.config, "utf8"));
    const healthPort = await freePort();
    writeFileSync(
      a.config,
      JSON.stringify({ ...cfg, renewal: { checkEverySeconds: 1 }, health: { port: healthPort } }, null, 2),
    );
    const keyBefore = (await device(a.name)).x;
    const oldAuth = {
      cert: readFileSync(cfg.certFile, "utf8"),
      key: readFileSync(cfg.software.keyFile, "utf8"),
      ca: readFileSync(cfg.caFile, "utf8"),
    };
    const rotationsBefore = audit().filter((e) => e.action === "rotated" && e.device === a.name).length;
    const publishing = runAgent(a.config, 60, 150);
    await new Promise((r) => setTimeout(r, 2_000));
    // `agent renew` beside the running agent is refused: the agent does it itself.
    const beside = await cli("agent", "renew", "--config", a.config);
    expect(beside.status).toBe(1);
    expect(beside.stderr).toMatch(/The agent is running \(its health endpoint answers\)/);
    const q = await cli("device", "rotate", "--dir", fleet, "--name", a.name, "--queue");
    expect(q.status, q.stderr).toBe(0);
    const run = await publishing;
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      "60 readings signed with the software key and published, 60 queued by the bridge",
    );
    // Rotated by the running agent, once.
    expect((await device(a.name)).x).not.toBe(keyBefore);
    expect(audit().filter((e) => e.action === "rotated" && e.device === a.name)).toHaveLength(
      rotationsBefore + 1,
    );
    const rotatedTo = JSON.parse(readFileSync(a.config, "utf8")).software.keyFile;
    expect(rotatedTo).not.toBe(cfg.software.keyFile);
    // Every reading of the run is committed and verifies on-chain: those before the rotation time
    // with the old key, those after with the new one (both kinds are among them).
    const sequences = [...run.stderr.matchAll(/reading (\d+) taken/g)].map((m) => m[1] as string);
    expect(sequences).toHaveLength(60);
    await bridge.flush();
    const registered = await device(a.name);
    const keys = new Set<string>();
    for (const seq of sequences) {
      const res = await bridge.app.inject({ method: "GET", url: `/readings/${a.name}:${seq}` });
      const served = res.json() as Served;
      expect(served.status, `reading ${seq}`).toBe("committed");
      await expect(verifyOnChain(served), `reading ${seq}`).resolves.toMatch(/^0x[0-9a-f]{64}$/);
      keys.add(Number(served.reading.timestamp) >= registered.validFrom ? "new" : "old");
    }
    expect([...keys].sort()).toEqual(["new", "old"]);

    // The rotation's answer lost on the way back: the device asks again with the same request and
    // the certificate it had; the endpoint answers with the certificate it issued, nothing more.
    const newSecret = p256SecretFromPem(readFileSync(rotatedTo, "utf8"));
    const csrFor = (secret: Uint8Array) =>
      createDeviceCsr({
        tlsKey: softwareCsrKey(secret),
        curve: "p256",
        readingPublicKey: publicKeyOf("p256", secret),
        deviceName: a.name,
      });
    const url = `https://127.0.0.1:${estPort}`;
    const again = await estEnroll(url, oldAuth, await csrFor(newSecret), true);
    expect(certificateFingerprint(again)).toBe(
      certificateFingerprint(readFileSync(join(fleet, "devices", `${a.name}.pem`), "utf8")),
    );
    expect((await device(a.name)).x).toBe(registered.x);
    // The replaced certificate rotates to no other key.
    await expect(estEnroll(url, oldAuth, await csrFor(randomSecretKey("p256")), true)).rejects.toMatchObject({
      code: "refused",
      status: 403,
    });
    expect(audit().filter((e) => e.action === "rotated" && e.device === a.name)).toHaveLength(
      rotationsBefore + 1,
    );
  }, 180_000);

  it("revokes several devices in one command: one CRL, the broker told, all revoked on-chain in one transaction", async () => {
    const names = ["b", "d", "e"].map((k) => (chips[k] as (typeof chips)[string]).name);
    const crlBefore = audit().filter((e) => e.action === "crl_issued").length;
    writeFileSync(join(dir, "revoke.txt"), `# lost in the flood\n${names.join("\n")}\n`);
    const r = await cli(
      "device",
      "revoke",
      "--dir",
      fleet,
      "--file",
      join(dir, "revoke.txt"),
      "--broker-pid-file",
      join(dir, "mosquitto.pid"),
    );
    expect(r.status, r.stderr).toBe(0);
    const line = r.stdout.match(
      /^3 devices revoked: CRL \S+ re-issued once \(3 certificates\), broker \(pid \d+\) told to re-read it, 3 revoked on-chain in 1 transaction\(s\) \((0x[0-9a-f]{64})\)$/m,
    );
    expect(line, r.stdout).not.toBeNull();
    expect(r.stderr).toMatch(/revoked on chain 31337: 3\/3/);
    for (const n of names) expect((await device(n)).status).toBe(2);
    // One revokeBatch transaction carried all three: a DeviceRevoked event for each device.
    const receipt = await node.publicClient.getTransactionReceipt({ hash: line?.[1] as Hex });
    const revokedIds = receipt.logs
      .filter(
        (l) => l.topics[0] === toEventSelector(parseAbiItem("event DeviceRevoked(bytes32 indexed, uint40)")),
      )
      .map((l) => l.topics[1]);
    expect(revokedIds.sort()).toEqual(names.map((n) => deviceNameToId(n)).sort());
    const audited = audit().filter((e) => e.action === "revoked" && names.includes(e.device as string));
    expect(new Set(audited.map((e) => (e as { tx?: string }).tx))).toEqual(new Set([line?.[1]]));
    expect(audit().filter((e) => e.action === "crl_issued").length).toBe(crlBefore + 1);
    // The broker re-read the CRL (SIGHUP): a revoked device no longer gets in.
    await new Promise((res) => setTimeout(res, 500));
    const run = await runAgent((chips.b as (typeof chips)[string]).config, 1);
    expect(run.status).not.toBe(0);
    // A re-run after it skips the three: nothing sent, the CRL re-issued again.
    const again = await cli("device", "revoke", "--dir", fleet, "--file", join(dir, "revoke.txt"));
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/, 0 revoked on-chain, 3 revoked before$/m);
  }, 180_000);

  it("decommissions a device: refused at the broker and on-chain, its earlier readings still verify; agent wipe removes its keys", async () => {
    const a = chips.a as (typeof chips)[string];
    const d = chips.d as (typeof chips)[string];
    // Bad requests: typed errors, nothing revoked.
    const statusBefore = (await device(a.name)).status;
    let bad = await cli(
      "device",
      "decommission",
      "--dir",
      fleet,
      "--name",
      a.name,
      "--reason",
      "compromised",
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/give --since\. \[RevocationError:bad_since\]$/);
    bad = await cli(
      "device",
      "decommission",
      "--dir",
      fleet,
      "--name",
      a.name,
      "--reason",
      "compromised",
      "--since",
      String(Math.floor(Date.now() / 1000) + 3600),
    );
    expect(bad.stderr).toMatch(/\[RevocationError:bad_since\]$/);
    bad = await cli("device", "revoke", "--dir", fleet, "--names", `${a.name},${"0".repeat(64)}`);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/No device 0{64} in this fleet\..*\[RevocationError:unknown_device\]$/);
    expect((await device(a.name)).status).toBe(statusBefore);
    const earlier = await lastReadingCommitted(a.name);
    // The device's feed (its settings bundle's) has it and another device, quorum 2.
    const admin = createWalletClient({
      chain: hardhat,
      transport: http(node.url),
      account: privateKeyToAccount(DEV_KEYS.admin),
    });
    const feedId = feedIdOf("plant/temperature");
    const hash = await admin.writeContract({
      address: contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "configureFeed",
      args: [
        feedId,
        { decimals: 2, quorum: 2, heartbeat: 3600, window: 300 },
        [deviceNameToId(a.name), deviceNameToId(d.name)],
        "plant",
      ],
    });
    await node.publicClient.waitForTransactionReceipt({ hash });
    let r = await cli(
      "device",
      "decommission",
      "--dir",
      fleet,
      "--name",
      a.name,
      "--reason",
      "retired",
      "--broker-pid-file",
      join(dir, "mosquitto.pid"),
      "--feeds-contract",
      contracts.feeds,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^device ${a.name} decommissioned \\(retired\\): revoked on-chain from \\d+ in block \\d+, CRL re-issued \\(broker pid \\d+ re-read it\\), feeds: plant/temperature removed;`,
      ),
    );
    const [config, members] = await node.publicClient.readContract({
      address: contracts.feeds,
      abi: sensorFeedsAbi,
      functionName: "getFeed",
      args: [feedId],
    });
    expect(members).toEqual([deviceNameToId(d.name)]);
    expect(config.quorum).toBe(1);
    expect((await device(a.name)).status).toBe(2);
    expect(audit().at(-1)).toMatchObject({
      action: "decommissioned",
      device: a.name,
      details: { reason: "retired" },
    });
    await expect(verifyOnChain(earlier)).resolves.toMatch(/^0x[0-9a-f]{64}$/);
    await new Promise((res) => setTimeout(res, 500));
    const run = await runAgent(a.config, 1);
    expect(run.status).not.toBe(0);
    // The endpoint refuses it too.
    r = await cli("agent", "renew", "--config", a.config, "--now");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/EnrolmentError:revoked/);
    // On the device: keys overwritten and removed, state and config gone.
    const keyFile = JSON.parse(readFileSync(a.config, "utf8")).software.keyFile as string;
    // The reading the broker refused may wait in the agent's outbox (it never will be delivered).
    r = await cli("agent", "wipe", "--config", a.config, "--discard-unacknowledged");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^device ${a.name} wiped: 3 key files overwritten and removed`));
    expect(existsSync(keyFile)).toBe(false);
    expect(existsSync(join(a.dir, "tls.key"))).toBe(false);
    expect(existsSync(a.config)).toBe(false);
  }, 180_000);

  it("stops the endpoint with a one-line account", async () => {
    const out: string[] = [];
    endpoint.stdout?.on("data", (b: Buffer) => out.push(b.toString()));
    const exited = new Promise((res) => endpoint.once("exit", res));
    endpoint.kill("SIGTERM");
    await exited;
    expect(out.join("").trim()).toMatch(
      /^enrolment endpoint stopped: 5 enrolled, 2 renewed, 2 rotated, [1-9]\d* refused$/,
    );
    // The endpoint and the operator's commands wrote the same audit log: one unbroken chain.
    const r = await cli("audit", "--dir", fleet, "--quiet");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^audit log: \d+ entries, hash chain verified/);
  }, 60_000);
});
