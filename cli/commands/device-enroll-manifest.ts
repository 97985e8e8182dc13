import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuditLog } from "../../fleet/audit-log.js";
import { enrollManifest } from "../../fleet/enroll-manifest.js";
import { ManifestError } from "../../fleet/errors.js";
import { loadFleetCa } from "../../pki/fleet-ca.js";
import { SensorOracleError } from "../../protocol/index.js";
import { args, need, progress, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";
import { fleetPublicSettings } from "./device-enroll-csr.js";

/**
 * `device enroll --manifest FILE`: many devices at once (CSRs, or factory keys whose manufacturer
 * certificates chain to the pinned --manufacturer-ca), registered in registerBatch transactions
 * sized to the gas limit. Interrupted, it is run again with the same manifest: it goes on from
 * its state file (FILE.state) and the registry, and registers nobody twice.
 */
export async function deviceEnrollManifest(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    manifest: "string",
    "manufacturer-ca": "string",
    "manifest-signer": "string",
    "batch-size": "string",
    "broker-url": "string",
    feeds: "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const manifestPath = resolve(need(v, "manifest"));
  if (!existsSync(manifestPath))
    throw new SensorOracleError("Manifest not found.", { details: manifestPath });
  const maxBatch = v["batch-size"] ? Number(v["batch-size"]) : undefined;
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch > 0))
    throw new UsageError("--batch-size must be a positive whole number");
  const pinnedFile = v["manufacturer-ca"] ?? (cfg as { manufacturerCa?: string }).manufacturerCa;
  const started = Date.now();
  const r = await enrollManifest({
    manifestPath,
    fleetDir: dir,
    ca: await loadFleetCa(join(dir, "ca")),
    settings: fleetPublicSettings(dir, v),
    ...(pinnedFile ? { pinnedManufacturerCa: readFileSync(resolve(dir, pinnedFile), "utf8") } : {}),
    ...(v["manifest-signer"] ? { manifestSigners: readFileSync(v["manifest-signer"], "utf8") } : {}),
    ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
    ...(maxBatch ? { maxBatch } : {}),
    audit: AuditLog.open(dir),
    progress,
  });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const onChain = cfg.chain
    ? `${r.registered} registered in ${r.batches} transaction${r.batches === 1 ? "" : "s"}${r.registered ? ` (${r.gasUsed / BigInt(r.registered)} gas per device)` : ""}, ${r.alreadyRegistered} already registered`
    : "not registered (no chain in fleet.json)";
  const line = `${r.devices} devices in the manifest: ${r.certified} certified, ${r.alreadyCertified} certified before, ${r.refused.length} refused; ${onChain}; ${secs} s`;
  if (r.refused.length)
    throw new ManifestError("entry_invalid", line, {
      details: r.refused.map((x) => `${x.label}: ${x.reason}`).join("; "),
    });
  return line;
}
