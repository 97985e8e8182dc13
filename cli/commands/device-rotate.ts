import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDeviceCertificate } from "../../bridge/certificates.js";
import { AuditLog, audit } from "../../fleet/audit-log.js";
import { certifyTokenKeys, generateDeviceKeys } from "../../fleet/enroll.js";
import { rotateDevice } from "../../fleet/registry-admin.js";
import { rotateFromCsr } from "../../fleet/rotate-csr.js";
import { queueRotation } from "../../fleet/rotation-queue.js";
import { settingsBundle, writeSettingsBundle } from "../../fleet/settings-bundle.js";
import { loadFleetCa } from "../../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../../protocol/index.js";
import { args, need, progress } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";
import { fleetPublicSettings } from "./device-enroll-csr.js";
import { openToken } from "./token.js";

/** `device rotate`: a new key in the token for the same device, its certificate, the on-chain rotation. */
export async function deviceRotate(argv: string[]): Promise<string> {
  if (argv.some((a) => a === "--csr" || a.startsWith("--csr="))) return deviceRotateCsr(argv);
  if (argv.includes("--queue")) return deviceRotateQueue(argv);
  const v = args(argv, {
    dir: "string",
    name: "string",
    label: "string",
    module: "string",
    "token-label": "string",
    "pin-file": "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const name = need(v, "name");
  const certFile = join(dir, "devices", `${name}.pem`);
  if (!existsSync(certFile)) throw new SensorOracleError(`No device ${name} in this fleet.`);
  const old = parseDeviceCertificate(readFileSync(certFile, "utf8"));
  const label = need(v, "label");
  const { token } = openToken(v);
  try {
    progress(`generating a ${old.curve} key in the token (sensitive, not extractable)`);
    const { readingPublicKey, tlsLabel } = generateDeviceKeys(token, old.curve, label);
    const ca = await loadFleetCa(join(dir, "ca"));
    progress("the token signs the certificate request; the CA checks it and issues the certificate");
    const cert = await certifyTokenKeys({
      token,
      ca,
      curve: old.curve,
      readingPublicKey,
      tlsLabel,
      deviceId: deviceNameToId(name),
    });
    let onChain = "not rotated on-chain (no chain in fleet.json)";
    let tx: string | undefined;
    if (cfg.chain) {
      const at = Math.floor(Date.now() / 1000);
      progress(`rotating the key of ${deviceNameToId(name)} on chain ${cfg.chain.chainId} from ${at}`);
      const { blockNumber, hash } = await rotateDevice(registryWriter(cfg.chain), cert, at);
      onChain = `rotated on-chain in block ${blockNumber}`;
      tx = hash;
    }
    audit(dir, {
      action: "rotated",
      device: name,
      serial: parseDeviceCertificate(cert.certPem).serialNumber,
      ...(tx ? { tx } : {}),
      details: { previousSerial: old.serialNumber },
    });
    // The old certificate stays beside the new one: the bridge needs it for readings signed before.
    writeFileSync(join(dir, "devices", `${name}.${old.serialNumber}.pem`), readFileSync(certFile, "utf8"));
    writeFileSync(certFile, cert.certPem);
    const agentFile = join(dir, "agents", `${name}.json`);
    if (existsSync(agentFile)) {
      const agent = JSON.parse(readFileSync(agentFile, "utf8"));
      agent.token = { ...agent.token, readingLabel: label, tlsLabel };
      writeFileSync(agentFile, `${JSON.stringify(agent, null, 2)}\n`);
    }
    return `device ${name} rotated to key "${label}": new certificate ${certFile}, ${onChain}, agent config updated`;
  } finally {
    token.close();
  }
}

/**
 * `device rotate --name N --csr FILE`: the device made its new key and CSR itself (`agent csr
 * --name N`); certify it, rotate on-chain, write the new settings bundle.
 */
async function deviceRotateCsr(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    csr: "string",
    out: "string",
    "broker-url": "string",
    feeds: "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const name = need(v, "name");
  const certFile = join(dir, "devices", `${name}.pem`);
  if (!existsSync(certFile)) throw new SensorOracleError(`No device ${name} in this fleet.`);
  const current = readFileSync(certFile, "utf8");
  progress(`reviewing ${need(v, "csr")}: a new key for ${name.slice(0, 8)}…, signed by it`);
  const { cert, serial, receipt } = await rotateFromCsr({
    ca: await loadFleetCa(join(dir, "ca")),
    csrPem: readFileSync(need(v, "csr"), "utf8"),
    name,
    currentCertPem: current,
    ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
    audit: AuditLog.open(dir),
  });
  // The old certificate stays beside the new one: the bridge needs it for readings signed before.
  writeFileSync(join(dir, "devices", `${name}.${parseDeviceCertificate(current).serialNumber}.pem`), current);
  writeFileSync(certFile, cert.certPem);
  const bundleFile = resolve(v.out ?? join(dir, "bundles", `${name}.json`));
  mkdirSync(join(bundleFile, ".."), { recursive: true });
  writeSettingsBundle(bundleFile, settingsBundle(cert, fleetPublicSettings(dir, v)));
  const onChain = receipt
    ? `rotated on-chain in block ${receipt.blockNumber}`
    : "not rotated on-chain (no chain in fleet.json)";
  return `device ${name} rotated to the key of its request: certificate ${serial}, ${onChain}, settings bundle ${bundleFile}`;
}

/**
 * `device rotate --name N --queue`: ask the device for a new key. The enrolment endpoint (`enrol
 * serve`) tells it at its next contact (`agent renew`, or the agent's renewal timer); the device
 * makes the key and sends its CSR; the endpoint certifies it and rotates the key on-chain.
 */
async function deviceRotateQueue(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", queue: "boolean" });
  const dir = resolve(need(v, "dir"));
  readFleet(dir);
  const name = need(v, "name");
  if (!existsSync(join(dir, "devices", `${name}.pem`)))
    throw new SensorOracleError(`No device ${name} in this fleet.`);
  const q = queueRotation(dir, name);
  const log = AuditLog.open(dir);
  log.append({ action: "rotation_queued", device: name, details: { queuedAt: q.queuedAt } });
  return `rotation of device ${name} queued (since ${q.queuedAt}): the enrolment endpoint asks the device for a new key at its next contact`;
}
