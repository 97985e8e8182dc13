import { type ChildProcess, execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
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
import { createWalletClient, http, parseAbiItem } from "viem";
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
import { opensslCa, opensslDeviceCsr, opensslKey, opensslSign, secretOfPem } from "../../testkit/openssl.js";
import { freePort } from "../../testkit/ports.js";
import { createSoftHsmToken, type SoftHsm, tokenCliOptions } from "../../testkit/softhsm.js";

const MOSQUITTO = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";

type Run = { status: number | null; stdout: string; stderr: string };

/** The CLI as its own process (the bridge under test runs in this one). */
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

/**
 * Enrolment as a fleet of devices that were never near the CA: an issuing CA made with OpenSSL
 * (not ours), devices whose keys and CSRs OpenSSL or a SoftHSM2 token made, the operator's
 * `device enroll --csr` on another folder, and the devices publishing through the broker and the
 * bridge. Bad requests issue and register nothing; the audit log catches an edited entry.
 */
describe("enrolment from CSRs made elsewhere, with a CA that is not ours", () => {
  let node: ChainNode;
  let hsm: SoftHsm;
  let dir: string;
  let fleet: string;
  let contracts: FleetContracts;
  let broker: ChildProcess;
  let port: number;
  let bridge: Bridge;
  let certificates: FleetCertificates;
  let stopCrl: () => void;

  const registered = async (name: string) =>
    (
      await node.publicClient.readContract({
        address: contracts.oracle,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(name)],
      })
    ).status;
  const registrations = async () =>
    (
      await node.publicClient.getLogs({
        address: contracts.oracle,
        event: parseAbiItem(
          "event DeviceRegistered(bytes32 indexed deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)",
        ),
        fromBlock: 0n,
      })
    ).map((l) => l.args.deviceId as string);
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

  beforeAll(async () => {
    [node, port] = await Promise.all([startHardhatNode(), freePort()]);
    contracts = await deployOverHttp(node);
    hsm = createSoftHsmToken("device-token");
    dir = mkdtempSync(join(tmpdir(), "so-enrol-"));
    chmodSync(dir, 0o755); // Mosquitto drops to user mosquitto and reads the broker files
    writeFileSync(join(dir, "operator.key"), `${DEV_KEYS.admin}\n`, { mode: 0o600 });
    // The operator's own CA, made with OpenSSL: root and issuing CA.
    const caDir = join(dir, "openssl-ca");
    mkdirSync(caDir);
    const ca = opensslCa(caDir, "Acme BYO");
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
    expect(r.stdout).toMatch(/^fleet "acme" created in .* with the imported issuing CA, registry 0x/);
    r = await cli("broker", "config", "--dir", fleet, "--port", String(port));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(fleet, "broker", "server.key")).length).toBeGreaterThan(0);
    broker = spawn(MOSQUITTO, ["-c", join(fleet, "broker", "mosquitto.conf")], { stdio: "ignore" });
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
      batchIntervalMs: 60_000,
      log: pino({ level: "silent" }),
    });
  }, 240_000);

  afterAll(async () => {
    stopCrl?.();
    await bridge?.stop();
    broker?.kill("SIGTERM");
    node?.stop();
    hsm?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes the broker's server key owner-only", () => {
    expect(statSync(join(fleet, "broker", "server.key")).mode & 0o077).toBe(0);
  });

  it("enrols OpenSSL-made devices (P-256; secp256k1 with its own TLS key) from their CSRs; they publish through the bridge", async () => {
    for (const curve of ["p256", "secp256k1"] as const) {
      const dev = join(dir, `openssl-${curve}`);
      mkdirSync(dev);
      opensslKey(dev, "tls.key", "p256");
      const readingPublicKey =
        curve === "p256" ? undefined : opensslKey(dev, "reading-openssl.key", "secp256k1");
      const tlsPub = (await import("../../testkit/openssl.js")).publicKeyOfPem(
        readFileSync(join(dev, "tls.key"), "utf8"),
      );
      const name = opensslDeviceCsr(dev, {
        tlsKeyFile: "tls.key",
        curve,
        readingPublicKey: readingPublicKey ?? tlsPub,
        out: "req.csr",
      });
      chmodSync(join(dev, "tls.key"), 0o600);
      if (curve === "secp256k1") {
        const secret = secretOfPem(readFileSync(join(dev, "reading-openssl.key"), "utf8"));
        writeFileSync(join(dev, "reading.key"), `${Buffer.from(secret).toString("hex")}\n`, { mode: 0o600 });
      }
      let r = await cli(
        "device",
        "enroll",
        "--dir",
        fleet,
        "--csr",
        join(dev, "req.csr"),
        "--curve",
        curve,
        "--broker-url",
        `mqtts://127.0.0.1:${port}`,
        "--feeds",
        "demo/temperature",
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(
          `^device ${name} \\(${curve}\\) enrolled from its CSR: certificate [0-9a-f]+, registered in block \\d+, settings bundle \\S+\\.json$`,
        ),
      );
      expect(await registered(name)).toBe(1);
      const bundleFile = join(fleet, "bundles", `${name}.json`);
      const bundle = JSON.parse(readFileSync(bundleFile, "utf8"));
      expect(bundle).toMatchObject({
        deviceName: name,
        curve,
        chainId: 31337,
        registry: contracts.oracle,
        feeds: ["demo/temperature"],
      });
      // Issued by the OpenSSL issuing CA.
      const issuing = new X509Certificate(readFileSync(join(dir, "openssl-ca", "issuing.pem")));
      expect(new X509Certificate(bundle.certificate).verify(issuing.publicKey)).toBe(true);
      // The device makes its agent config from the bundle and its own keys, and publishes.
      r = await cli(
        "agent",
        "install",
        "--bundle",
        bundleFile,
        "--config-dir",
        join(dev, "agent"),
        "--software",
        "--keys-dir",
        dev,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /^agent config written to \S+; start it with: sensor-oracle agent run --config \S+ --url mqtts:\/\/127\.0\.0\.1:\d+ --feed demo\/temperature$/,
      );
      certificates.loadDirectory(join(fleet, "devices"));
      r = await runAgent(join(dev, "agent", `${name}.json`), 2);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("2 readings signed with the software key and published, 2 queued by the bridge");
    }
  }, 240_000);

  it("rotates an enrolled device to a new key from the CSR it made for it; it publishes on under its name", async () => {
    const dev = join(dir, "openssl-p256");
    const name = JSON.parse(
      readFileSync(
        readdirSync(join(dev, "agent"))
          .filter((f) => f.endsWith(".json"))
          .map((f) => join(dev, "agent", f))[0] as string,
        "utf8",
      ),
    ).deviceName as string;
    const keys2 = join(dev, "keys-2");
    mkdirSync(keys2);
    const pub2 = opensslKey(keys2, "tls.key", "p256");
    chmodSync(join(keys2, "tls.key"), 0o600);
    opensslDeviceCsr(keys2, {
      tlsKeyFile: "tls.key",
      curve: "p256",
      readingPublicKey: pub2,
      out: "new.csr",
      name,
    });
    // Its old request again (the current key) is not a rotation.
    let r = await cli("device", "rotate", "--dir", fleet, "--name", name, "--csr", join(dev, "req.csr"));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[CertificateRequestError:wrong_key\]$/);
    r = await cli("device", "rotate", "--dir", fleet, "--name", name, "--csr", join(keys2, "new.csr"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^device ${name} rotated to the key of its request: certificate [0-9a-f]+, rotated on-chain in block \\d+, settings bundle \\S+$`,
      ),
    );
    const onChain = await node.publicClient.readContract({
      address: contracts.oracle,
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [deviceNameToId(name)],
    });
    expect(onChain.x).toBe(`0x${Buffer.from(pub2.subarray(1, 33)).toString("hex")}`);
    r = await cli(
      "agent",
      "install",
      "--bundle",
      join(fleet, "bundles", `${name}.json`),
      "--config-dir",
      join(dev, "agent"),
      "--software",
      "--keys-dir",
      keys2,
    );
    expect(r.status, r.stderr).toBe(0);
    certificates.loadDirectory(join(fleet, "devices"));
    r = await runAgent(join(dev, "agent", `${name}.json`), 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed with the software key and published, 2 queued by the bridge");
  }, 180_000);

  it("enrols a SoftHSM2 device whose host holds only its token: keygen and csr there, enroll here", async () => {
    const device = join(dir, "device-host");
    mkdirSync(device);
    const token = tokenCliOptions(hsm);
    let r = await cli("agent", "keygen", "--curve", "secp256k1", "--label", "boiler-3", ...token);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^device ([0-9a-f]{64}) \(secp256k1\): keys "boiler-3" and "boiler-3-tls" \(TLS\) in token "device-token"$/,
    );
    const name = (/device ([0-9a-f]{64})/.exec(r.stdout) as RegExpExecArray)[1] as string;
    r = await cli(
      "agent",
      "csr",
      "--curve",
      "secp256k1",
      "--label",
      "boiler-3",
      "--out",
      join(device, "boiler-3.csr"),
      ...token,
    );
    expect(r.status, r.stderr).toBe(0);
    // Nothing of the CA on the device's host: its folder holds the request only.
    expect(readdirSync(device)).toEqual(["boiler-3.csr"]);
    r = await cli(
      "device",
      "enroll",
      "--dir",
      fleet,
      "--csr",
      join(device, "boiler-3.csr"),
      "--name",
      name,
      "--out",
      join(device, "bundle.json"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^device ${name} \\(secp256k1\\) enrolled from its CSR`));
    r = await cli(
      "agent",
      "install",
      "--bundle",
      join(device, "bundle.json"),
      "--config-dir",
      device,
      "--label",
      "boiler-3",
      ...token,
    );
    expect(r.status, r.stderr).toBe(0);
    certificates.loadDirectory(join(fleet, "devices"));
    r = await runAgent(join(device, `${name}.json`), 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("2 readings signed in the token and published, 2 queued by the bridge");
  }, 240_000);

  it("registers a certificate an external CA issued for the device's CSR, in a fleet folder without the CA's key", async () => {
    const ca = join(dir, "openssl-ca");
    const external = join(dir, "fleet-external");
    let r = await cli(
      "ca",
      "init",
      "--dir",
      external,
      "--name",
      "acme-external",
      "--import-root",
      join(ca, "root.pem"),
      "--import-issuing",
      join(ca, "issuing.pem"),
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
    expect(r.stdout).toMatch(/with the imported issuing CA \(its key kept by that CA\)/);
    expect(readdirSync(join(external, "ca")).filter((f) => f.endsWith(".key"))).toEqual([]);
    const dev = join(dir, "external");
    mkdirSync(dev);
    const pub = opensslKey(dev, "tls.key", "p256");
    const name = opensslDeviceCsr(dev, {
      tlsKeyFile: "tls.key",
      curve: "p256",
      readingPublicKey: pub,
      out: "req.csr",
    });
    // The external CA signs the request (openssl x509 -req standing in for step-ca or Vault).
    opensslSign(dev, {
      csr: "req.csr",
      caCert: join(ca, "issuing.pem"),
      caKey: join(ca, "issuing.key"),
      out: "cert.pem",
    });
    // A certificate for another key than the request's is refused, nothing registered.
    const other = opensslKey(dev, "other.key", "p256");
    opensslDeviceCsr(dev, {
      tlsKeyFile: "other.key",
      curve: "p256",
      readingPublicKey: other,
      out: "other.csr",
    });
    r = await cli(
      "device",
      "enroll",
      "--dir",
      external,
      "--csr",
      join(dev, "other.csr"),
      "--certificate",
      join(dev, "cert.pem"),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[CertificateRequestError:certificate_mismatch\]$/);
    r = await cli(
      "device",
      "enroll",
      "--dir",
      external,
      "--csr",
      join(dev, "req.csr"),
      "--certificate",
      join(dev, "cert.pem"),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(await registered(name)).toBe(1);
    expect(readFileSync(join(external, "devices", `${name}.pem`), "utf8")).toBe(
      readFileSync(join(dev, "cert.pem"), "utf8"),
    );
    // The bridge of the main fleet (same OpenSSL CA) takes the certificate as a device certificate.
    certificates.add(readFileSync(join(dev, "cert.pem"), "utf8"));
    await expect(certificates.resolve(name)).resolves.toMatchObject({ name, curve: "p256" });
  }, 120_000);

  it("refuses a tampered CSR, one for another name, one of the wrong curve and a non-CSR: typed errors, nothing issued or registered", async () => {
    const dev = join(dir, "bad");
    mkdirSync(dev);
    const pub = opensslKey(dev, "tls.key", "p256");
    const name = opensslDeviceCsr(dev, {
      tlsKeyFile: "tls.key",
      curve: "p256",
      readingPublicKey: pub,
      out: "good.csr",
    });
    const der = Buffer.from(
      readFileSync(join(dev, "good.csr"), "utf8").replace(/-----[^-]+-----|\s/g, ""),
      "base64",
    );
    der.writeUInt8((der.at(-5) as number) ^ 0x01, der.length - 5); // a bit of the signature
    writeFileSync(
      join(dev, "tampered.csr"),
      `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`,
    );
    const k1 = opensslKey(dev, "k1.key", "secp256k1");
    opensslDeviceCsr(dev, { tlsKeyFile: "tls.key", curve: "secp256k1", readingPublicKey: k1, out: "k1.csr" });
    writeFileSync(join(dev, "not.csr"), readFileSync(join(dir, "openssl-ca", "root.pem")));
    const refusals = () =>
      readFileSync(join(fleet, "audit.log"), "utf8")
        .split("\n")
        .filter((l) => l.includes('"enrolment_refused"')).length;
    const before = {
      devices: readdirSync(join(fleet, "devices")).length,
      chain: (await registrations()).length,
      refused: refusals(),
    };
    const cases: [string[], string][] = [
      [["--csr", join(dev, "tampered.csr")], "CertificateRequestError:bad_signature"],
      [["--csr", join(dev, "good.csr"), "--name", "ab".repeat(32)], "CertificateRequestError:name_mismatch"],
      [["--csr", join(dev, "k1.csr"), "--curve", "p256"], "CertificateRequestError:wrong_curve"],
      [["--csr", join(dev, "not.csr")], "CertificateRequestError:malformed"],
      // A device the registry already holds (enrolled above): a rotation, not an enrolment.
      [["--csr", join(dir, "openssl-p256", "req.csr")], "EnrolmentError:already_registered"],
    ];
    for (const [argv, tag] of cases) {
      const r = await cli("device", "enroll", "--dir", fleet, ...argv);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.split("\n").at(-1)).toMatch(new RegExp(`^sensor-oracle: .*\\[${tag}\\]$`));
    }
    expect(readdirSync(join(fleet, "devices")).length).toBe(before.devices);
    expect((await registrations()).length).toBe(before.chain);
    expect(await registered(name)).toBe(0);
    expect(refusals() - before.refused).toBe(5); // each refusal in the audit log
  }, 180_000);

  it("refuses key files that group or others can read, and a new CA without a passphrase for its root key", async () => {
    const dev = join(dir, "exposed");
    let r = await cli("agent", "keygen", "--curve", "p256", "--software", "--keys-dir", dev);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(join(dev, "tls.key")).mode & 0o777).toBe(0o600);
    chmodSync(join(dev, "tls.key"), 0o644);
    r = await cli(
      "agent",
      "csr",
      "--curve",
      "p256",
      "--software",
      "--keys-dir",
      dev,
      "--out",
      join(dev, "req.csr"),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^sensor-oracle: Key file is readable by group or others: .*has mode 644\) \[KeyFileError:exposed\]$/,
    );
    chmodSync(join(dev, "tls.key"), 0o600);
    r = await cli(
      "agent",
      "csr",
      "--curve",
      "p256",
      "--software",
      "--keys-dir",
      dev,
      "--out",
      join(dev, "req.csr"),
    );
    expect(r.status, r.stderr).toBe(0);
    const issuingKey = join(fleet, "ca", "issuing-ca.key");
    chmodSync(issuingKey, 0o640);
    r = await cli("device", "enroll", "--dir", fleet, "--csr", join(dev, "req.csr"));
    chmodSync(issuingKey, 0o600);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[KeyFileError:exposed\]$/);
    const { SO_CA_PASSPHRASE: _, ...env } = process.env;
    const noPass = await new Promise<Run>((resolve) =>
      execFile(
        process.execPath,
        ["--import", "tsx", "cli/main.ts", "ca", "init", "--dir", join(dir, "no-pass")],
        { env },
        (err, stdout, stderr) =>
          resolve({ status: err ? (err.code as number) : 0, stdout, stderr: stderr.trim() }),
      ),
    );
    expect(noPass.status).toBe(1);
    expect(noPass.stderr).toMatch(/\[KeyFileError:passphrase_missing\]$/);
    expect(existsSync(join(dir, "no-pass", "ca"))).toBe(false);
  }, 120_000);

  it("keeps an audit log whose chain verifies, and fails on the first edited or removed entry", async () => {
    // A revocation is audited too: the CRL re-issued, the device revoked on-chain.
    const bundle = readdirSync(join(dir, "openssl-secp256k1", "agent")).find((f) =>
      f.endsWith(".json"),
    ) as string;
    const revokedName = bundle.replace(/\.json$/, "");
    let r = await cli("device", "revoke", "--dir", fleet, "--name", revokedName);
    expect(r.status, r.stderr).toBe(0);
    const tail = readFileSync(join(fleet, "audit.log"), "utf8")
      .trimEnd()
      .split("\n")
      .slice(-2)
      .map((l) => JSON.parse(l));
    expect(tail.map((e) => [e.action, e.device])).toEqual([
      ["crl_issued", revokedName],
      ["revoked", revokedName],
    ]);
    expect(tail[1].tx).toMatch(/^0x[0-9a-f]{64}$/);
    r = await cli("audit", "--dir", fleet);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split("\n").at(-1)).toMatch(/^audit log: \d+ entries, hash chain verified/);
    expect(r.stdout).toContain("alice@acme");
    const log = join(fleet, "audit.log");
    const original = readFileSync(log, "utf8");
    const lines = original.trimEnd().split("\n");
    const i = lines.findIndex((l) => l.includes('"registered"'));
    const entry = JSON.parse(lines[i] as string);
    expect(entry).toMatchObject({ operator: "alice@acme", tx: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(entry.serial).toMatch(/^[0-9a-f]+$/);
    // One entry edited (its transaction hash): refused at that line.
    lines[i] = JSON.stringify({ ...entry, tx: `0x${"0".repeat(64)}` });
    writeFileSync(log, `${lines.join("\n")}\n`);
    r = await cli("audit", "--dir", fleet);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`Audit log line ${i + 1} was altered.*\\[AuditLogError:hash_mismatch\\]$`),
    );
    // One entry removed: the next one no longer follows.
    const kept = original.trimEnd().split("\n");
    kept.splice(i, 1);
    writeFileSync(log, `${kept.join("\n")}\n`);
    r = await cli("audit", "--dir", fleet);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`Audit log line ${i + 1} does not follow .*\\[AuditLogError:chain_broken\\]$`),
    );
    writeFileSync(log, original);
    r = await cli("audit", "--dir", fleet, "--quiet");
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);
});
