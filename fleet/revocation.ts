import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { FLEET_CA_FILES, type FleetCa } from "../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import { registeredOnChain } from "./bulk-registration.js";
import { RevocationError } from "./errors.js";
import { type RegistryWriter, revokeDevice } from "./registry-admin.js";

/**
 * Revoking many devices in one run: every certificate of each device (the current one and those
 * kept from rotations and renewals) onto the CRL, which is re-issued once; then each device revoked
 * on-chain. DeviceRegistry has no batch revoke (contracts/DeviceRegistry.sol: `revoke` takes one
 * device), so that is one transaction each, sent one after the other with progress; a device the
 * registry already holds as revoked is skipped, so a re-run after a failure finishes the rest.
 */
export type RevokeDevicesParameters = {
  dir: string;
  ca: FleetCa;
  names: string[];
  /** Readings signed from then on are refused (unix seconds, per device or for all); now by default. */
  since?: number | ((name: string) => number);
  registry?: RegistryWriter;
  audit: AuditLog;
  /** After the CRL is written, before the first transaction (the broker is told to re-read it). */
  onCrl?: (crlFile: string) => void;
  onRevoked?: (name: string, done: number, total: number, tx?: Hex) => void;
};

export type RevokeDevicesReturnType = {
  crlFile: string;
  certificates: number;
  onChain: { name: string; tx: Hex; blockNumber: bigint }[];
  alreadyRevoked: string[];
};

/** Every certificate the fleet folder holds for a device (current first). */
export function deviceCertificates(dir: string, name: string): string[] {
  const devices = join(dir, "devices");
  const current = join(devices, `${name}.pem`);
  if (!existsSync(current))
    throw new RevocationError("unknown_device", `No device ${name} in this fleet.`, { details: dir });
  const older = readdirSync(devices)
    .filter((f) => f.startsWith(`${name}.`) && f.endsWith(".pem") && f !== `${name}.pem`)
    .map((f) => readFileSync(join(devices, f), "utf8"));
  return [readFileSync(current, "utf8"), ...older];
}

export async function revokeDevices(p: RevokeDevicesParameters): Promise<RevokeDevicesReturnType> {
  const names = [...new Set(p.names)];
  const now = Math.floor(Date.now() / 1000);
  const sinceOf = (n: string) => (typeof p.since === "function" ? p.since(n) : (p.since ?? now));
  // Everything is checked before anything is revoked.
  const certs = new Map(names.map((n) => [n, deviceCertificates(p.dir, n)] as const));
  for (const n of names)
    if (!Number.isInteger(sinceOf(n)) || sinceOf(n) > now)
      throw new RevocationError("bad_since", "A revocation cannot start in the future.", {
        details: `device ${n}, since ${sinceOf(n)}`,
      });
  let count = 0;
  for (const list of certs.values())
    for (const pem of list) {
      p.ca.revoke(pem);
      count++;
    }
  await p.ca.save(join(p.dir, "ca"));
  const crlFile = join(p.dir, "ca", FLEET_CA_FILES.crl);
  p.audit.append({
    action: "crl_issued",
    ...(names.length === 1 ? { device: names[0] } : {}),
    details: { certificates: count, devices: names.length },
  });
  p.onCrl?.(crlFile);
  const onChain: RevokeDevicesReturnType["onChain"] = [];
  const alreadyRevoked: string[] = [];
  let done = 0;
  const statuses = p.registry ? await revokedOnChain(p.registry, names) : new Set<string>();
  for (const n of names) {
    const serial = parseDeviceCertificate(certs.get(n)?.[0] as string).serialNumber;
    let tx: Hex | undefined;
    if (p.registry && !statuses.has(n)) {
      const r = await revokeDevice(p.registry, deviceNameToId(n), sinceOf(n));
      onChain.push({ name: n, tx: r.hash, blockNumber: r.blockNumber });
      tx = r.hash;
    } else if (p.registry) alreadyRevoked.push(n);
    p.audit.append({
      action: "revoked",
      device: n,
      serial,
      ...(tx ? { tx } : {}),
      details: { since: sinceOf(n), ...(p.registry && !tx ? { alreadyRevokedOnChain: true } : {}) },
    });
    done++;
    p.onRevoked?.(n, done, names.length, tx);
  }
  return { crlFile, certificates: count, onChain, alreadyRevoked };
}

/** The names among these that the registry holds as revoked already. */
async function revokedOnChain(w: RegistryWriter, names: string[]): Promise<Set<string>> {
  const held = await registeredOnChain(
    w,
    names.map((n) => deviceNameToId(n)),
  );
  const out = new Set<string>();
  for (const n of names) {
    if (!held.has(deviceNameToId(n))) continue;
    const d = await w.publicClient.readContract({
      address: w.registry,
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [deviceNameToId(n)],
    });
    if (d.status === 2) out.add(n);
  }
  return out;
}

/**
 * Tell the broker to re-read its CRL without a restart: Mosquitto (2.0.11 measured,
 * test/e2e/broker-crl-reload.test.ts) reloads its listeners' crlfile on SIGHUP, and a client
 * already connected with a revoked certificate stays connected until it reconnects.
 */
export function reloadBrokerCrl(pidFile: string): number {
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1)
    throw new SensorOracleError("The broker's pid file holds no process id.", { details: pidFile });
  process.kill(pid, "SIGHUP");
  return pid;
}
