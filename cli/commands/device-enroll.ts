import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDeviceCertificate } from "../../bridge/certificates.js";
import { createDeviceCsr, softwareCsrKey } from "../../device-agent/csr.js";
import { auditEnrolment } from "../../fleet/audit-log.js";
import { certifyTokenKeys, generateDeviceKeys } from "../../fleet/enroll.js";
import { registerDevice } from "../../fleet/registry-admin.js";
import { FLEET_CA_FILES, type IssuedDeviceFromCsr, loadFleetCa } from "../../pki/fleet-ca.js";
import { writePrivateKeyFile } from "../../pki/key-file.js";
import { p256SecretToPem } from "../../pki/pem.js";
import { publicKeyOf, randomSecretKey } from "../../protocol/index.js";
import type { AgentConfig } from "../agent-config.js";
import { args, need, progress, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";
import { deviceEnrollCsr } from "./device-enroll-csr.js";
import { deviceEnrollManifest } from "./device-enroll-manifest.js";
import { openToken } from "./token.js";

/** `device enroll`: keys in a token (or, for development, in files), certificate, registration, agent config. */
export async function deviceEnroll(argv: string[]): Promise<string> {
  // A device that made its own key elsewhere (--csr), or many at once (--manifest).
  const given = (flag: string) => argv.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (given("--csr")) return deviceEnrollCsr(argv);
  if (given("--manifest")) return deviceEnrollManifest(argv);
  const v = args(argv, {
    dir: "string",
    curve: "string",
    label: "string",
    module: "string",
    "token-label": "string",
    "pin-file": "string",
    software: "boolean",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const curve = need(v, "curve");
  if (curve !== "p256" && curve !== "secp256k1") throw new UsageError("--curve must be p256 or secp256k1");
  const ca = await loadFleetCa(join(dir, "ca"));
  let cert: IssuedDeviceFromCsr;
  let keys: Pick<AgentConfig, "token"> | Pick<AgentConfig, "software">;
  let where: string;
  if (v.software) {
    if (v.module || v["token-label"]) throw new UsageError("--software takes no token options");
    progress(`generating a software ${curve} key: development only, the key is kept in a file`);
    const tlsSecret = randomSecretKey("p256");
    const readingSecret = curve === "p256" ? tlsSecret : randomSecretKey("secp256k1");
    progress("signing the certificate request with the device key; the CA checks it");
    const csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve,
      readingPublicKey: publicKeyOf(curve, readingSecret),
    });
    cert = await ca.issueDeviceFromCsr(csr, { curve });
    mkdirSync(join(dir, "agents"), { recursive: true });
    const keyFile = join(dir, "agents", `${cert.name}.key`);
    writePrivateKeyFile(keyFile, p256SecretToPem(tlsSecret));
    const readingKeyFile = join(dir, "agents", `${cert.name}.reading-key`);
    if (curve === "secp256k1")
      writePrivateKeyFile(readingKeyFile, `${Buffer.from(readingSecret).toString("hex")}\n`);
    keys = { software: { keyFile, ...(curve === "secp256k1" ? { readingKeyFile } : {}) } };
    where = `software key in ${keyFile} (development only)`;
  } else {
    const label = need(v, "label");
    const { token, modulePath, tokenLabel, pinFile } = openToken(v);
    try {
      progress(`generating a ${curve} key in the token (sensitive, not extractable)`);
      const { readingPublicKey, tlsLabel } = generateDeviceKeys(token, curve, label);
      progress("the token signs the certificate request; the CA checks it and issues the certificate");
      cert = await certifyTokenKeys({ token, ca, curve, readingPublicKey, tlsLabel });
      keys = {
        token: {
          modulePath,
          tokenLabel,
          pinFile,
          readingLabel: label,
          tlsLabel,
        },
      };
      where = `key in token "${tokenLabel}"`;
    } finally {
      token.close();
    }
  }
  const certFile = join(dir, "devices", `${cert.name}.pem`);
  writeFileSync(certFile, cert.certPem);
  let registered = "not registered (no chain in fleet.json)";
  let tx: string | undefined;
  if (cfg.chain) {
    progress(`registering ${cert.deviceId} on chain ${cfg.chain.chainId}`);
    const validFrom = Math.floor(parseDeviceCertificate(cert.certPem).notBefore.getTime() / 1000);
    const { blockNumber, hash } = await registerDevice(registryWriter(cfg.chain), cert, validFrom);
    registered = `registered in block ${blockNumber}`;
    tx = hash;
  }
  auditEnrolment(dir, cert.name, cert.certPem, tx);
  const agent: AgentConfig = {
    deviceName: cert.name,
    curve,
    certFile,
    caFile: join(dir, "ca", FLEET_CA_FILES.chain),
    ...keys,
    ...(cfg.chain ? { chainId: cfg.chain.chainId, registry: cfg.chain.registry } : {}),
  };
  const agentFile = join(dir, "agents", `${cert.name}.json`);
  writeFileSync(agentFile, `${JSON.stringify(agent, null, 2)}\n`);
  return `device ${cert.name} (${curve}) enrolled: ${where}, certificate ${certFile}, ${registered}, agent config ${agentFile}`;
}
