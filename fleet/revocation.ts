import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { FLEET_CA_FILES, type FleetCa } from "../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import { TX_GAS_CAP } from "./bulk-registration.js";
import { RevocationError } from "./errors.js";
import {
  estimateRevokeBatchGas,
  type RegistryWriter,
  revokeDevice,
  revokeDevicesBatch,
} from "./registry-admin.js";

/**
 * Revoking many devices in one run: every certificate of each device (the current one and those
 * kept from rotations and renewals) onto the CRL, which is re-issued once; then the devices revoked
 * on-chain in `revokeBatch` transactions sized to what one transaction may use (the block gas
 * limit and EIP-7825's cap, as bulk registration sizes `registerBatch`), one after the other with
 * progress. One device alone goes by `revoke` (cheaper for one). The registry is asked first: a
 * device it holds as revoked already is skipped, so a re-run after a failure finishes the rest and
 * no batch reverts on it; a device it does not hold (never registered) has nothing to revoke
 * on-chain and is only put on the CRL. Devices with different `since` times go in separate batches
 * (the contract takes one time per batch).
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
  /** Once per device; `tx` is the transaction that revoked it (shared by a batch), none if skipped. */
  onRevoked?: (name: string, done: number, total: number, tx?: Hex) => void;
  /** Most devices in one `revokeBatch` (fewer if the gas limit allows fewer). */
  maxBatch?: number;
};

export type RevokeDevicesReturnType = {
  crlFile: string;
  certificates: number;
  onChain: { name: string; tx: Hex; blockNumber: bigint }[];
  /** One per transaction sent: its hash, block, gas and how many devices it revoked. */
  transactions: { hash: Hex; blockNumber: bigint; gasUsed: bigint; devices: number }[];
  alreadyRevoked: string[];
  /** Devices the registry does not hold: put on the CRL only. */
  notRegistered: string[];
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
  const status = p.registry ? await statusOnChain(p.registry, names) : new Map<string, number>();
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
  const out: RevokeDevicesReturnType = {
    crlFile,
    certificates: count,
    onChain: [],
    transactions: [],
    alreadyRevoked: [],
    notRegistered: [],
  };
  let done = 0;
  const revoked = (n: string, tx?: Hex, skipped?: Record<string, true>) => {
    p.audit.append({
      action: "revoked",
      device: n,
      serial: parseDeviceCertificate(certs.get(n)?.[0] as string).serialNumber,
      ...(tx ? { tx } : {}),
      details: { since: sinceOf(n), ...skipped },
    });
    done++;
    p.onRevoked?.(n, done, names.length, tx);
  };
  const pending: string[] = [];
  for (const n of names) {
    const s = status.get(n);
    if (!p.registry) revoked(n);
    else if (s === REVOKED) {
      out.alreadyRevoked.push(n);
      revoked(n, undefined, { alreadyRevokedOnChain: true });
    } else if (s === UNREGISTERED) {
      out.notRegistered.push(n);
      revoked(n, undefined, { notRegisteredOnChain: true });
    } else pending.push(n);
  }
  if (!p.registry || !pending.length) return out;
  const w = p.registry;
  const bySince = new Map<number, string[]>();
  for (const n of pending) bySince.set(sinceOf(n), [...(bySince.get(sinceOf(n)) ?? []), n]);
  for (const [since, group] of bySince) {
    const size = await revokeBatchSize(w, group, since, p.maxBatch);
    for (let i = 0; i < group.length; i += size) {
      const batch = group.slice(i, i + size);
      const ids = batch.map((n) => deviceNameToId(n));
      const r =
        batch.length === 1
          ? await revokeDevice(w, ids[0] as Hex, since)
          : await revokeDevicesBatch(w, ids, since);
      out.transactions.push({
        hash: r.hash,
        blockNumber: r.blockNumber,
        gasUsed: r.gasUsed,
        devices: batch.length,
      });
      for (const n of batch) {
        out.onChain.push({ name: n, tx: r.hash, blockNumber: r.blockNumber });
        revoked(n, r.hash);
      }
    }
  }
  return out;
}

const UNREGISTERED = 0;
const REVOKED = 2;

/** The registry's status of each device (0 none, 1 active, 2 revoked), read 50 at a time. */
async function statusOnChain(w: RegistryWriter, names: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const step = 50;
  for (let i = 0; i < names.length; i += step) {
    const slice = names.slice(i, i + step);
    const devices = await Promise.all(
      slice.map((n) =>
        w.publicClient.readContract({
          address: w.registry,
          abi: sensorOracleAbi,
          functionName: "getDevice",
          args: [deviceNameToId(n)],
        }),
      ),
    );
    devices.forEach((d, j) => {
      out.set(slice[j] as string, d.status);
    });
  }
  return out;
}

/**
 * How many devices one `revokeBatch` may carry: from the node's estimate for one device and for
 * a few (the per-device cost), within 80% of the smaller of the block gas limit and TX_GAS_CAP.
 * Estimated at the latest block's time when `since` is later (the gas does not depend on it).
 */
async function revokeBatchSize(
  w: RegistryWriter,
  names: string[],
  since: number,
  max = 1_000,
): Promise<number> {
  if (names.length <= 1) return 1;
  const block = await w.publicClient.getBlock();
  const at = Math.min(since, Number(block.timestamp));
  const ids = names.slice(0, Math.min(names.length, 8)).map((n) => deviceNameToId(n));
  const [one, many] = await Promise.all([
    estimateRevokeBatchGas(w, ids.slice(0, 1), at),
    estimateRevokeBatchGas(w, ids, at),
  ]);
  const perDevice = (many - one) / BigInt(ids.length - 1);
  const base = one - perDevice;
  // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.min does not take
  const cap = block.gasLimit > TX_GAS_CAP ? TX_GAS_CAP : block.gasLimit;
  const limit = (cap * 8n) / 10n;
  const fit = Number((limit - base) / (perDevice > 0n ? perDevice : 1n));
  return Math.max(1, Math.min(fit, max));
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
