import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDeviceCertificate } from "../../bridge/certificates.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import { AuditLog } from "../../fleet/audit-log.js";
import { reloadBrokerCrl, revokeDevices } from "../../fleet/revocation.js";
import { FLEET_CA_FILES, loadFleetCa } from "../../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../../protocol/index.js";
import { args, inParallel, need, type Options, progress, progressCounter, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";

/**
 * `device revoke`: the devices' certificates onto the CRL (re-issued once), the devices revoked
 * on-chain in `revokeBatch` transactions sized to the gas limit, the broker told to re-read the CRL
 * (--broker-pid-file: SIGHUP). One device (--name) or many (--names a,b,c or --file).
 */
export async function deviceRevoke(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    names: "string",
    file: "string",
    since: "string",
    "broker-pid-file": "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const names = namesToRevoke(v);
  const since = v.since !== undefined ? Number(v.since) : undefined;
  if (since !== undefined && !Number.isInteger(since)) throw new UsageError("--since is unix seconds");
  const ca = await loadFleetCa(join(dir, "ca"));
  progress(`adding the certificates of ${names.length} device(s) to the CRL`);
  const step = progressCounter(
    `revoked on chain ${cfg.chain?.chainId ?? "-"}:`,
    cfg.chain ? names.length : 0,
  );
  let reloaded = "";
  const r = await revokeDevices({
    dir,
    ca,
    names,
    ...(since !== undefined ? { since } : {}),
    ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
    audit: AuditLog.open(dir),
    onCrl: () => {
      if (v["broker-pid-file"]) {
        const pid = reloadBrokerCrl(v["broker-pid-file"]);
        reloaded = `, broker (pid ${pid}) told to re-read it`;
        progress(`CRL re-issued; SIGHUP sent to the broker (pid ${pid})`);
      }
    },
    onRevoked: () => {
      if (cfg.chain) step();
    },
  });
  if (names.length === 1) {
    const one = r.onChain[0];
    const onChain = !cfg.chain
      ? "not revoked on-chain (no chain in fleet.json)"
      : one
        ? `revoked on-chain in block ${one.blockNumber}`
        : "revoked on-chain before";
    return `device ${names[0]} revoked: CRL ${r.crlFile} updated${reloaded}, ${onChain}`;
  }
  const onChain = cfg.chain
    ? [
        `${r.onChain.length} revoked on-chain`,
        r.transactions.length
          ? ` in ${r.transactions.length} transaction(s) (${r.transactions.map((t) => t.hash).join(" ")})`
          : "",
        r.alreadyRevoked.length ? `, ${r.alreadyRevoked.length} revoked before` : "",
        r.notRegistered.length ? `, ${r.notRegistered.length} not registered on-chain (CRL only)` : "",
      ].join("")
    : "not revoked on-chain (no chain in fleet.json)";
  return `${names.length} devices revoked: CRL ${r.crlFile} re-issued once (${r.certificates} certificates)${reloaded}, ${onChain}`;
}

/** The devices --name, --names a,b,c or --file (one name a line, # comments) name. */
function namesToRevoke(v: Options): string[] {
  const given = [v.name, v.names, v.file].filter((x) => typeof x === "string").length;
  if (given === 0) throw new UsageError("--name is required");
  if (given > 1) throw new UsageError("give one of --name, --names or --file");
  const list =
    typeof v.file === "string"
      ? readFileSync(v.file, "utf8")
          .split("\n")
          .map((l) => l.replace(/#.*/, "").trim())
      : String(v.name ?? v.names).split(",");
  const names = list.map((n) => n.trim()).filter(Boolean);
  if (!names.length) throw new UsageError("no device names given");
  for (const n of names)
    if (!/^[0-9a-f]{64}$/.test(n)) throw new UsageError(`not a device name (64 hex digits): ${n}`);
  return names;
}

/** How many devices are looked up at once, on-chain and at the bridge. */
const LOOKUPS_AT_ONCE = 16;

/** The last reading the bridge has seen from a device; `error` when the bridge could not say. */
type LastReading = { sequence: string; timestamp: string } | null | { error: string };

/** A device as `device list` and `device status` show it (and print with --json). */
type DeviceRow = {
  name: string;
  curve: string;
  certificate: { status: "valid" | "expired" | "revoked"; serialNumber: string; notAfter: string };
  /** The registry's record; null when fleet.json names no chain. */
  chain: { status: "unregistered" | "active" | "revoked"; revokedAt?: number } | null;
  /** Null when no bridge URL is known. */
  bridge: { url: string; lastReading: LastReading } | null;
};

async function lastReadingSeen(bridgeUrl: string, name: string): Promise<LastReading> {
  try {
    const res = await fetch(`${bridgeUrl}/devices/${name}`, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 404) return null;
    if (!res.ok) return { error: `bridge answered ${res.status}` };
    const body = (await res.json()) as { lastReading: { sequence: string; timestamp: string } | null };
    return body.lastReading
      ? { sequence: body.lastReading.sequence, timestamp: body.lastReading.timestamp }
      : null;
  } catch {
    return { error: "bridge unreachable" };
  }
}

/**
 * The fleet's devices (or the one named): each one's current certificate, its record on-chain and
 * the last reading the bridge saw, looked up LOOKUPS_AT_ONCE devices at a time with progress.
 */
async function deviceRows(dir: string, bridgeUrl: string | undefined, only?: string): Promise<DeviceRow[]> {
  const cfg = readFleet(dir);
  const bridge = bridgeUrl ?? cfg.bridgeUrl;
  const revoked = new Set(
    (
      JSON.parse(readFileSync(join(dir, "ca", FLEET_CA_FILES.revoked), "utf8")) as { serialNumber: string }[]
    ).map((r) => r.serialNumber),
  );
  // The current certificate of each device (after a rotation, older ones are kept beside it).
  const current = new Map<string, ReturnType<typeof parseDeviceCertificate>>();
  for (const f of readdirSync(join(dir, "devices")).filter((x) => x.endsWith(".pem"))) {
    const dc = parseDeviceCertificate(readFileSync(join(dir, "devices", f), "utf8"));
    if (only !== undefined && dc.name !== only) continue;
    const seen = current.get(dc.name);
    if (!seen || dc.notBefore >= seen.notBefore) current.set(dc.name, dc);
  }
  const devices = [...current.values()];
  const clients = cfg.chain && devices.length ? registryWriter(cfg.chain) : undefined;
  let chainStates: DeviceRow["chain"][] = devices.map(() => null);
  if (clients) {
    const step = progressCounter(`registry records read on chain ${cfg.chain?.chainId}:`, devices.length);
    chainStates = await inParallel(devices, LOOKUPS_AT_ONCE, async (dc) => {
      const d = await clients.publicClient.readContract({
        address: clients.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(dc.name)],
      });
      step();
      const status = (["unregistered", "active", "revoked"] as const)[d.status] ?? "unregistered";
      return status === "revoked" ? { status, revokedAt: Number(d.revokedAt) } : { status };
    });
  }
  let lastReadings: (LastReading | undefined)[] = devices.map(() => undefined);
  if (bridge) {
    const step = progressCounter(`last readings asked of ${bridge}:`, devices.length);
    lastReadings = await inParallel(devices, LOOKUPS_AT_ONCE, async (dc) => {
      const r = await lastReadingSeen(bridge, dc.name);
      step();
      return r;
    });
  }
  const now = new Date();
  return devices.map((dc, i) => ({
    name: dc.name,
    curve: dc.curve,
    certificate: {
      status: revoked.has(dc.serialNumber) ? "revoked" : dc.notAfter < now ? "expired" : "valid",
      serialNumber: dc.serialNumber,
      notAfter: dc.notAfter.toISOString(),
    },
    chain: chainStates[i] ?? null,
    bridge: bridge ? { url: bridge, lastReading: lastReadings[i] ?? null } : null,
  }));
}

/** A row's words: state on-chain and last reading seen. */
function describeRow(r: DeviceRow) {
  const chain = !r.chain
    ? "-"
    : r.chain.status === "revoked"
      ? `revoked since ${r.chain.revokedAt}`
      : r.chain.status;
  const last = r.bridge?.lastReading;
  const lastReading = !r.bridge
    ? "- (no bridge url)"
    : !last
      ? "none"
      : "error" in last
        ? last.error
        : `#${last.sequence} signed ${new Date(Number(last.timestamp) * 1000).toISOString()}`;
  return { chain, lastReading, expires: r.certificate.notAfter.slice(0, 10) };
}

/** `device list`: one line per device (or, with --json, one JSON document), then a summary. */
export async function deviceList(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", "bridge-url": "string", json: "boolean" });
  const rows = await deviceRows(resolve(need(v, "dir")), v["bridge-url"]);
  const valid = rows.filter((r) => r.certificate.status === "valid").length;
  if (v.json) return JSON.stringify({ devices: rows, total: rows.length, validCertificates: valid }, null, 2);
  for (const r of rows) {
    const d = describeRow(r);
    console.log(
      `${r.name}  ${r.curve.padEnd(9)}  expires ${d.expires}  certificate ${r.certificate.status.padEnd(7)}  on-chain ${d.chain}  last reading ${d.lastReading}`,
    );
  }
  return `${rows.length} devices, ${valid} with a valid certificate`;
}

/** `device status`: one device, in one line (or, with --json, one JSON document). */
export async function deviceStatus(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", "bridge-url": "string", json: "boolean" });
  const name = need(v, "name");
  const [row] = await deviceRows(resolve(need(v, "dir")), v["bridge-url"], name);
  if (!row) throw new SensorOracleError(`No device ${name} in this fleet.`);
  if (v.json) return JSON.stringify(row, null, 2);
  const d = describeRow(row);
  return `device ${row.name} (${row.curve}): certificate ${row.certificate.status}, expires ${d.expires}, on-chain ${d.chain}, last reading ${d.lastReading}`;
}
