import { execFile, spawn } from "node:child_process";
import { sign, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAbiItem } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorOracleAbi } from "../../chain/abi.js";
import type { FleetContracts } from "../../chain/deploy.js";
import { createDeviceCsr, softwareCsrKey } from "../../device-agent/csr.js";
import { deviceIdOf, deviceIdToName, publicKeyOf, randomSecretKey } from "../../protocol/index.js";
import { type ChainNode, DEV_KEYS, deployOverHttp, startHardhatNode } from "../../testkit/chain-node.js";
import { openssl, opensslCa, opensslDeviceCsr, opensslKey, opensslSign } from "../../testkit/openssl.js";

type Run = { status: number | null; stdout: string; stderr: string };
const ENV = { ...process.env, SO_CA_PASSPHRASE: "manifest test passphrase" };

function cli(...argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", ...argv],
      { timeout: 300_000, env: ENV },
      (err, stdout, stderr) => {
        resolve({
          status: err ? (typeof err.code === "number" ? err.code : 1) : 0,
          stdout: stdout.trim(),
          stderr: stderr.trim(),
        });
      },
    );
  });
}

const derB64 = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, "");
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** `n` devices' CSRs, as `agent csr` makes them (software keys: the keys are not the point here). */
async function csrs(n: number): Promise<{ csr: string; name: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const curve = i % 2 ? "secp256k1" : "p256";
    const tls = randomSecretKey("p256");
    const reading = curve === "p256" ? tls : randomSecretKey("secp256k1");
    const readingPublicKey = publicKeyOf(curve, reading);
    out.push({
      csr: await createDeviceCsr({ tlsKey: softwareCsrKey(tls), curve, readingPublicKey }),
      name: deviceIdToName(deviceIdOf(curve, readingPublicKey)),
    });
  }
  return out;
}

describe("device enroll --manifest: many devices in registerBatch transactions, resumable", () => {
  let node: ChainNode;
  let contracts: FleetContracts;
  let dir: string;
  let fleet: string;

  const registrations = async () =>
    (
      await node.publicClient.getLogs({
        address: contracts.oracle,
        event: parseAbiItem(
          "event DeviceRegistered(bytes32 indexed deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)",
        ),
        fromBlock: 0n,
      })
    ).map((l) => (l.args.deviceId as string).slice(2));
  const status = async (name: string) =>
    (
      await node.publicClient.readContract({
        address: contracts.oracle,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [`0x${name}`],
      })
    ).status;

  beforeAll(async () => {
    node = await startHardhatNode();
    contracts = await deployOverHttp(node);
    dir = mkdtempSync(join(tmpdir(), "so-manifest-"));
    writeFileSync(join(dir, "operator.key"), `${DEV_KEYS.admin}\n`, { mode: 0o600 });
    fleet = join(dir, "fleet");
    const r = await cli(
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
  }, 180_000);

  afterAll(() => {
    node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("enrols 200 devices; killed mid-run and run again, it finishes and registers nobody twice", async () => {
    const devices = await csrs(200);
    const manifest = join(dir, "batch-200.json");
    writeFileSync(manifest, JSON.stringify({ version: 1, devices: devices.map((d) => ({ csr: d.csr })) }));
    // First run: killed (SIGKILL, no chance to tidy up) once its third transaction is confirmed.
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "cli/main.ts",
        "device",
        "enroll",
        "--dir",
        fleet,
        "--manifest",
        manifest,
        "--batch-size",
        "10",
      ],
      { env: ENV },
    );
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (b) => {
        stderr += b.toString();
        if (/batch 3\/20/.test(stderr)) child.kill("SIGKILL");
      });
      child.on("exit", () => resolve());
    });
    expect(stderr).toContain("certified 200/200");
    expect(stderr).toMatch(/registering 200 devices in 20 transactions of up to 10/);
    const afterKill = await registrations();
    expect(afterKill.length).toBeGreaterThanOrEqual(30);
    expect(afterKill.length).toBeLessThan(200);
    expect(existsSync(`${manifest}.state`)).toBe(true);

    // Second run: goes on from the state file and the registry.
    const r = await cli("device", "enroll", "--dir", fleet, "--manifest", manifest, "--batch-size", "10");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^200 devices in the manifest: 0 certified, 200 certified before, 0 refused; ${200 - afterKill.length} registered in \\d+ transactions \\(\\d+ gas per device\\), ${afterKill.length} already registered; [\\d.]+ s$`,
      ),
    );
    const all = await registrations();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200); // each device registered exactly once
    expect(new Set(all)).toEqual(new Set(devices.map((d) => d.name)));
    for (const d of devices.slice(0, 5)) expect(await status(d.name)).toBe(1);
    // Every device has its certificate and settings bundle, and the audit trail verifies.
    for (const d of devices) expect(existsSync(join(fleet, "bundles", `${d.name}.json`))).toBe(true);
    const audit = await cli("audit", "--dir", fleet, "--quiet");
    expect(audit.status, audit.stderr).toBe(0);
    const log = readFileSync(join(fleet, "audit.log"), "utf8");
    expect(log.split("\n").filter((l) => l.includes('"registered"'))).toHaveLength(200);
  }, 600_000);

  it("enrols factory keys that chain to the pinned manufacturer CA (Trust&GO manifest), refuses one that does not", async () => {
    const maker = join(dir, "manufacturer");
    const rogue = join(dir, "rogue");
    mkdirSync(maker);
    mkdirSync(rogue);
    const mca = opensslCa(maker, "Chipmaker");
    const rca = opensslCa(rogue, "Rogue");
    // Three chips with keys made "at the factory", certified by a manufacturer's signer CA.
    const chip = (ca: typeof mca, where: string, id: string) => {
      const pub = opensslKey(where, `${id}.key`, "p256");
      openssl(where, "req", "-new", "-key", `${id}.key`, "-subj", `/CN=sn${id}`, "-out", `${id}.csr`);
      opensslSign(where, { csr: `${id}.csr`, caCert: ca.issuing, caKey: ca.issuingKey, out: `${id}.pem` });
      const leaf = readFileSync(join(where, `${id}.pem`), "utf8");
      return {
        pub,
        leaf,
        entry: {
          header: { uniqueId: id },
          protected: b64url({ typ: "JWT", alg: "ES256" }),
          payload: b64url({
            uniqueId: id,
            publicKeySet: {
              keys: [
                {
                  kid: "0",
                  kty: "EC",
                  crv: "P-256",
                  x: Buffer.from(pub.subarray(1, 33)).toString("base64url"),
                  y: Buffer.from(pub.subarray(33)).toString("base64url"),
                  x5c: [derB64(leaf), derB64(readFileSync(ca.issuing, "utf8"))],
                },
              ],
            },
          }),
          signature: "not checked: the x5c chain to the pinned CA is",
        },
      };
    };
    const a = chip(mca, maker, "0123a");
    const b = chip(mca, maker, "0123b");
    const c = chip(rca, rogue, "0123c");
    writeFileSync(join(dir, "trustandgo.json"), JSON.stringify([a.entry, b.entry, c.entry]));
    const before = (await registrations()).length;
    let r = await cli(
      "device",
      "enroll",
      "--dir",
      fleet,
      "--manifest",
      join(dir, "trustandgo.json"),
      "--manufacturer-ca",
      mca.root,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /chip 0123c refused: The manufacturer certificate does not chain to the pinned manufacturer CA\./,
    );
    expect(r.stderr.split("\n").at(-1)).toMatch(
      /^sensor-oracle: 3 devices in the manifest: 2 certified, 0 certified before, 1 refused; 2 registered in 1 transaction .*FactoryCertificateError:not_chained.*\[ManifestError:entry_invalid\]$/,
    );
    expect((await registrations()).length).toBe(before + 2);
    // The fleet certificate is for the factory key itself: no new key.
    for (const x of [a, b]) {
      const name = deviceIdToName(deviceIdOf("p256", x.pub));
      expect(await status(name)).toBe(1);
      const fleetCert = new X509Certificate(readFileSync(join(fleet, "devices", `${name}.pem`)));
      const spki = fleetCert.publicKey.export({ format: "der", type: "spki" });
      expect(Buffer.from(spki.subarray(spki.length - 65)).equals(Buffer.from(x.pub))).toBe(true);
    }
    expect(await status(deviceIdToName(deviceIdOf("p256", c.pub)))).toBe(0);

    // Our manifest form: a factory certificate with a CSR the factory key signed (proof of
    // possession); a CSR signed by another key than the certificate's is refused.
    const d = chip(mca, maker, "0123d");
    const e = chip(mca, maker, "0123e");
    opensslDeviceCsr(maker, {
      tlsKeyFile: "0123d.key",
      curve: "p256",
      readingPublicKey: d.pub,
      out: "0123d-pop.csr",
    });
    const chain = readFileSync(mca.issuing, "utf8");
    writeFileSync(
      join(dir, "factory.json"),
      JSON.stringify({
        version: 1,
        devices: [
          { factoryCertificate: [d.leaf, chain], csr: readFileSync(join(maker, "0123d-pop.csr"), "utf8") },
          { factoryCertificate: [e.leaf, chain], csr: readFileSync(join(maker, "0123d-pop.csr"), "utf8") },
        ],
      }),
    );
    r = await cli(
      "device",
      "enroll",
      "--dir",
      fleet,
      "--manifest",
      join(dir, "factory.json"),
      "--manufacturer-ca",
      mca.root,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("FactoryCertificateError:key_mismatch");
    expect(await status(deviceIdToName(deviceIdOf("p256", d.pub)))).toBe(1);
    expect(await status(deviceIdToName(deviceIdOf("p256", e.pub)))).toBe(0);

    // With the manufacturer's manifest signer pinned, each Trust&GO entry's JWS must verify: a
    // chip whose entry was altered after signing (its uniqueId) is refused, the other enrolled.
    opensslKey(maker, "signer.key", "p256");
    openssl(
      maker,
      "req",
      "-x509",
      "-new",
      "-key",
      "signer.key",
      "-subj",
      "/CN=Chipmaker manifest signer",
      "-days",
      "30",
      "-out",
      "signer.pem",
    );
    const signerKey = readFileSync(join(maker, "signer.key"), "utf8");
    const signed = (x: ReturnType<typeof chip>) => {
      const data = `${x.entry.protected}.${x.entry.payload}`;
      const sig = sign("sha256", Buffer.from(data), { key: signerKey, dsaEncoding: "ieee-p1363" });
      return { ...x.entry, signature: sig.toString("base64url") };
    };
    const f = chip(mca, maker, "0123f");
    const g = chip(mca, maker, "0123g");
    const gSigned = signed(g);
    const gAltered = {
      ...gSigned,
      payload: b64url({
        ...JSON.parse(Buffer.from(gSigned.payload, "base64url").toString()),
        uniqueId: "0123x",
      }),
    };
    writeFileSync(join(dir, "signed.json"), JSON.stringify([signed(f), gAltered]));
    r = await cli(
      "device",
      "enroll",
      "--dir",
      fleet,
      "--manifest",
      join(dir, "signed.json"),
      "--manufacturer-ca",
      mca.root,
      "--manifest-signer",
      join(maker, "signer.pem"),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /chip 0123x refused: The manifest entry is not signed by the pinned manifest signer\. \[ManifestError:signature_invalid\]/,
    );
    expect(await status(deviceIdToName(deviceIdOf("p256", f.pub)))).toBe(1);
    expect(await status(deviceIdToName(deviceIdOf("p256", g.pub)))).toBe(0);
  }, 300_000);
});
