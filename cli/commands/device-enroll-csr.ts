import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuditLog } from "../../fleet/audit-log.js";
import { enrollFromCsr } from "../../fleet/enroll-csr.js";
import {
  type FleetPublicSettings,
  settingsBundle,
  writeSettingsBundle,
} from "../../fleet/settings-bundle.js";
import { FLEET_CA_FILES, loadFleetCa } from "../../pki/fleet-ca.js";
import { SensorOracleError } from "../../protocol/index.js";
import { args, need, type Options, progress, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";

/**
 * The fleet's public settings a device's bundle carries: the CA chain, the chain and registry,
 * the broker's URL and the feeds (from --broker-url / --feeds, else fleet.json's "brokerUrl" and
 * "feeds").
 */
export function fleetPublicSettings(dir: string, v: Options): FleetPublicSettings {
  const cfg = readFleet(dir);
  const raw = cfg as typeof cfg & { brokerUrl?: string; feeds?: string[] };
  const brokerUrl = typeof v["broker-url"] === "string" ? v["broker-url"] : raw.brokerUrl;
  const feeds = typeof v.feeds === "string" ? v.feeds.split(",").filter(Boolean) : (raw.feeds ?? []);
  return {
    caChain: readFileSync(join(dir, "ca", FLEET_CA_FILES.chain), "utf8"),
    ...(brokerUrl ? { brokerUrl } : {}),
    ...(cfg.chain ? { chainId: cfg.chain.chainId, registry: cfg.chain.registry } : {}),
    feeds,
  };
}

/**
 * `device enroll --csr FILE`: a device that made its key and CSR itself (`agent csr`, OpenSSL, its
 * own firmware) is reviewed, certified, registered, and gets its settings bundle. With
 * --certificate, the certificate an external CA issued for that CSR is checked and registered.
 */
export async function deviceEnrollCsr(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    csr: "string",
    curve: "string",
    name: "string",
    certificate: "string",
    out: "string",
    "broker-url": "string",
    feeds: "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const curve = v.curve;
  if (curve !== undefined && curve !== "p256" && curve !== "secp256k1")
    throw new UsageError("--curve must be p256 or secp256k1");
  const csrFile = need(v, "csr");
  if (!existsSync(csrFile)) throw new SensorOracleError("CSR file not found.", { details: csrFile });
  const csrPem = readFileSync(csrFile, "utf8");
  const settings = fleetPublicSettings(dir, v);
  progress(`reviewing ${csrFile}: signature, key, curve and name`);
  const { cert, serial, receipt } = await enrollFromCsr({
    csrPem,
    ...(curve ? { curve } : {}),
    ...(v.name ? { expectedName: v.name } : {}),
    ...(v.certificate
      ? { certificatePem: readFileSync(v.certificate, "utf8"), caChainPem: settings.caChain }
      : { ca: await loadFleetCa(join(dir, "ca")) }),
    ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
    audit: AuditLog.open(dir),
  });
  mkdirSync(join(dir, "devices"), { recursive: true });
  const certFile = join(dir, "devices", `${cert.name}.pem`);
  writeFileSync(certFile, cert.certPem);
  const bundleFile = resolve(v.out ?? join(dir, "bundles", `${cert.name}.json`));
  mkdirSync(join(bundleFile, ".."), { recursive: true });
  writeSettingsBundle(bundleFile, settingsBundle(cert, settings));
  const registered = receipt
    ? `registered in block ${receipt.blockNumber}`
    : "not registered (no chain in fleet.json)";
  return `device ${cert.name} (${cert.curve}) enrolled from its CSR: certificate ${serial}, ${registered}, settings bundle ${bundleFile}`;
}
