import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { csrCurve } from "../pki/csr-review.js";
import type { FleetCa, IssuedDeviceFromCsr } from "../pki/fleet-ca.js";
import { verifyManifestEntrySignature } from "../pki/manifest-signature.js";
import { deviceNameToId, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import {
  batchSizeFor,
  type PendingRegistration,
  registerBatch,
  registeredOnChain,
} from "./bulk-registration.js";
import { ManifestError } from "./errors.js";
import { certifyFactoryKey } from "./factory-keys.js";
import { type ManifestEntry, readManifest } from "./manifest.js";
import type { RegistryWriter } from "./registry-admin.js";
import { type FleetPublicSettings, settingsBundle, writeSettingsBundle } from "./settings-bundle.js";

/**
 * Enrol every device of a manifest: certify each (CSR reviewed, or factory key checked against
 * the pinned manufacturer CA), write its certificate and settings bundle into the fleet folder,
 * then register them on-chain in `registerBatch` transactions. A state file beside the manifest
 * (<manifest>.state, JSON lines) records each certificate issued and each transaction sent and
 * confirmed; a re-run after a failure or a kill takes up from there, and asks the registry which
 * devices it already holds before it sends anything, so that nobody is certified or registered
 * twice.
 */

export type EnrollManifestParameters = {
  manifestPath: string;
  fleetDir: string;
  ca: FleetCa;
  /** Public settings each device's bundle carries. */
  settings: FleetPublicSettings;
  /** The manufacturer CA(s) factory keys must chain to (PEM); factory entries are refused without. */
  pinnedManufacturerCa?: string;
  /**
   * The manufacturer's manifest signer certificate(s) (PEM): each signed (Trust&GO) entry must
   * verify with one, and an unsigned factory entry is refused. Not checked when absent.
   */
  manifestSigners?: string;
  registry?: RegistryWriter;
  /** At most this many devices per registerBatch (the gas limit decides below it). */
  maxBatch?: number;
  audit?: AuditLog;
  progress?: (msg: string) => void;
};

export type EnrollManifestReturnType = {
  devices: number;
  certified: number;
  alreadyCertified: number;
  refused: { label: string; reason: string }[];
  registered: number;
  alreadyRegistered: number;
  batches: number;
  gasUsed: bigint;
};

type StateLine =
  | { certified: string; name: string; serial: string }
  | { sent: Hex; names: string[] }
  | { confirmed: Hex; names: string[] };

export const stateFileOf = (manifestPath: string) => `${manifestPath}.state`;

function readState(path: string): StateLine[] {
  if (!existsSync(path)) return [];
  // A line cut short by a kill is dropped: what it recorded is redone or found on-chain.
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StateLine];
      } catch {
        return [];
      }
    });
}

async function certify(entry: ManifestEntry, p: EnrollManifestParameters): Promise<IssuedDeviceFromCsr> {
  if (entry.kind === "csr") return p.ca.issueDeviceFromCsr(entry.csrPem, { curve: csrCurve(entry.csrPem) });
  if (!p.pinnedManufacturerCa)
    throw new SensorOracleError("A factory key needs the manufacturer CA pinned (--manufacturer-ca).");
  if (p.manifestSigners && !(entry.jws && (await verifyManifestEntrySignature(entry.jws, p.manifestSigners))))
    throw new ManifestError(
      "signature_invalid",
      "The manifest entry is not signed by the pinned manifest signer.",
      { details: entry.label },
    );
  return certifyFactoryKey({
    ca: p.ca,
    chain: entry.chain,
    pinned: p.pinnedManufacturerCa,
    ...(entry.csrPem ? { csrPem: entry.csrPem } : {}),
    ...(entry.jwk ? { jwk: entry.jwk } : {}),
  });
}

export async function enrollManifest(p: EnrollManifestParameters): Promise<EnrollManifestReturnType> {
  const say = p.progress ?? (() => {});
  for (const sub of ["devices", "bundles"]) mkdirSync(join(p.fleetDir, sub), { recursive: true });
  const manifest = readManifest(p.manifestPath);
  const statePath = stateFileOf(p.manifestPath);
  const state = readState(statePath);
  const record = (line: StateLine) => appendFileSync(statePath, `${JSON.stringify(line)}\n`);
  const certifiedBefore = new Map<string, string>(); // entry key -> device name
  const sent: Hex[] = [];
  for (const s of state) {
    if ("certified" in s) certifiedBefore.set(s.certified, s.name);
    else if ("sent" in s) sent.push(s.sent);
  }
  const out: EnrollManifestReturnType = {
    devices: manifest.entries.length,
    certified: 0,
    alreadyCertified: 0,
    refused: [],
    registered: 0,
    alreadyRegistered: 0,
    batches: 0,
    gasUsed: 0n,
  };
  say(
    `${manifest.entries.length} devices in ${p.manifestPath}${state.length ? `, resuming from ${statePath}` : ""}`,
  );

  // 1. Certify (once per entry: a certified entry's certificate is taken from the fleet folder).
  const pending: PendingRegistration[] = [];
  const names: string[] = [];
  const step = Math.max(1, Math.ceil(manifest.entries.length / 10));
  for (const [i, entry] of manifest.entries.entries()) {
    const known = certifiedBefore.get(entry.key);
    const certFile = (name: string) => join(p.fleetDir, "devices", `${name}.pem`);
    let certPem: string;
    let name: string;
    if (known && existsSync(certFile(known))) {
      name = known;
      certPem = readFileSync(certFile(known), "utf8");
      out.alreadyCertified++;
    } else {
      try {
        const cert = await certify(entry, p);
        name = cert.name;
        certPem = cert.certPem;
        writeFileSync(certFile(name), certPem);
        writeSettingsBundle(
          join(p.fleetDir, "bundles", `${name}.json`),
          settingsBundle({ name, curve: cert.curve, certPem }, p.settings),
        );
        const serial = parseDeviceCertificate(certPem).serialNumber;
        record({ certified: entry.key, name, serial });
        p.audit?.append({ action: "issued", device: name, serial, details: { manifest: entry.label } });
        out.certified++;
      } catch (err) {
        const reason =
          err instanceof SensorOracleError
            ? `${err.name}${"code" in err ? `:${String(err.code)}` : ""}`
            : String(err);
        out.refused.push({ label: entry.label, reason });
        p.audit?.append({ action: "enrolment_refused", details: { manifest: entry.label, reason } });
        say(
          `${entry.label} refused: ${err instanceof SensorOracleError ? err.shortMessage : String(err)} [${reason}]`,
        );
        continue;
      }
    }
    const dc = parseDeviceCertificate(certPem);
    names.push(name);
    pending.push({
      device: {
        deviceId: deviceNameToId(name),
        curve: dc.curve,
        readingPublicKey: dc.readingPublicKey,
        certPem,
      },
      validFrom: Math.floor(dc.notBefore.getTime() / 1000),
    });
    if ((i + 1) % step === 0 || i + 1 === manifest.entries.length)
      say(`certified ${i + 1}/${manifest.entries.length}`);
  }
  if (!p.registry) return out;

  // 2. Transactions sent by an interrupted run: wait for them before looking at the registry.
  for (const hash of sent) {
    try {
      await p.registry.publicClient.waitForTransactionReceipt({ hash, timeout: 30_000 });
    } catch {} // dropped or never mined: the registry says which devices it holds
  }
  // 3. What the registry already holds is not sent again.
  const held = await registeredOnChain(
    p.registry,
    pending.map((x) => x.device.deviceId),
  );
  const todo = pending.filter((x) => !held.has(x.device.deviceId));
  out.alreadyRegistered = pending.length - todo.length;
  if (out.alreadyRegistered) say(`${out.alreadyRegistered} devices already registered on-chain: skipped`);
  if (todo.length === 0) return out;

  // 4. registerBatch, sized to the gas limit.
  const size = await batchSizeFor(p.registry, todo, p.maxBatch ?? 1_000);
  const total = Math.ceil(todo.length / size);
  say(`registering ${todo.length} devices in ${total} transaction${total > 1 ? "s" : ""} of up to ${size}`);
  for (let b = 0; b < total; b++) {
    const batch = todo.slice(b * size, (b + 1) * size);
    const batchNames = batch.map((x) => x.device.deviceId.slice(2));
    const r = await registerBatch(p.registry, batch, (hash) => record({ sent: hash, names: batchNames }));
    record({ confirmed: r.hash, names: batchNames });
    for (const x of batch) {
      const serial = parseDeviceCertificate(x.device.certPem).serialNumber;
      p.audit?.append({ action: "registered", device: x.device.deviceId.slice(2), serial, tx: r.hash });
    }
    out.registered += batch.length;
    out.batches++;
    out.gasUsed += r.gasUsed;
    say(
      `batch ${b + 1}/${total}: ${batch.length} devices registered in block ${r.blockNumber} (${r.gasUsed} gas, ${r.gasUsed / BigInt(batch.length)} per device)`,
    );
  }
  return out;
}
