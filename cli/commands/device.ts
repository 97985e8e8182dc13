import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDeviceCertificate } from "../../bridge/certificates.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import { auditRevocation } from "../../fleet/audit-log.js";
import { revokeDevice } from "../../fleet/registry-admin.js";
import { FLEET_CA_FILES, loadFleetCa, saveFleetCa } from "../../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../../protocol/index.js";
import { args, need, progress } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";

/** `device revoke`: the certificate onto the CRL, the device revoked on-chain. */
export async function deviceRevoke(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", since: "string" });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const name = need(v, "name");
  const certFile = join(dir, "devices", `${name}.pem`);
  if (!existsSync(certFile)) throw new SensorOracleError(`No device ${name} in this fleet.`);
  const ca = await loadFleetCa(join(dir, "ca"));
  progress("adding the certificate to the CRL");
  ca.revoke(readFileSync(certFile, "utf8"));
  await saveFleetCa(ca, join(dir, "ca"));
  let onChain = "not revoked on-chain (no chain in fleet.json)";
  let tx: string | undefined;
  if (cfg.chain) {
    const since = v.since ? Number(v.since) : Math.floor(Date.now() / 1000);
    progress(`revoking ${deviceNameToId(name)} on chain ${cfg.chain.chainId} since ${since}`);
    const { blockNumber, hash } = await revokeDevice(registryWriter(cfg.chain), deviceNameToId(name), since);
    onChain = `revoked on-chain in block ${blockNumber}`;
    tx = hash;
  }
  auditRevocation(dir, name, readFileSync(certFile, "utf8"), tx);
  return `device ${name} revoked: CRL ${join(dir, "ca", FLEET_CA_FILES.crl)} updated, ${onChain}`;
}

/** The last reading the bridge has seen from a device, in words. */
async function lastReadingSeen(bridgeUrl: string | undefined, name: string): Promise<string> {
  if (!bridgeUrl) return "- (no bridge url)";
  try {
    const res = await fetch(`${bridgeUrl}/devices/${name}`, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 404) return "none";
    if (!res.ok) return `bridge answered ${res.status}`;
    const body = (await res.json()) as { lastReading: { sequence: string; timestamp: string } | null };
    if (!body.lastReading) return "none";
    const at = new Date(Number(body.lastReading.timestamp) * 1000).toISOString();
    return `#${body.lastReading.sequence} signed ${at}`;
  } catch {
    return "bridge unreachable";
  }
}

/** Each device's current certificate, its state on-chain and the last reading the bridge saw. */
async function deviceRows(dir: string, bridgeUrl?: string) {
  const cfg = readFleet(dir);
  const bridge = bridgeUrl ?? cfg.bridgeUrl;
  const revoked = new Set(
    (
      JSON.parse(readFileSync(join(dir, "ca", FLEET_CA_FILES.revoked), "utf8")) as { serialNumber: string }[]
    ).map((r) => r.serialNumber),
  );
  const clients = cfg.chain ? registryWriter(cfg.chain) : undefined;
  const rows = [];
  // The current certificate of each device (after a rotation, older ones are kept beside it).
  const current = new Map<string, ReturnType<typeof parseDeviceCertificate>>();
  for (const f of readdirSync(join(dir, "devices")).filter((x) => x.endsWith(".pem"))) {
    const dc = parseDeviceCertificate(readFileSync(join(dir, "devices", f), "utf8"));
    const seen = current.get(dc.name);
    if (!seen || dc.notBefore >= seen.notBefore) current.set(dc.name, dc);
  }
  for (const dc of current.values()) {
    let chain = "-";
    if (clients) {
      const d = await clients.publicClient.readContract({
        address: clients.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(dc.name)],
      });
      chain = ["unregistered", "active", `revoked since ${d.revokedAt}`][d.status] ?? "?";
    }
    rows.push({
      name: dc.name,
      curve: dc.curve,
      expires: dc.notAfter.toISOString().slice(0, 10),
      certificate: revoked.has(dc.serialNumber) ? "revoked" : dc.notAfter < new Date() ? "expired" : "valid",
      chain,
      lastReading: await lastReadingSeen(bridge, dc.name),
    });
  }
  return rows;
}

/** `device list`: one line per device. */
export async function deviceList(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", "bridge-url": "string" });
  const rows = await deviceRows(resolve(need(v, "dir")), v["bridge-url"]);
  for (const r of rows)
    console.log(
      `${r.name}  ${r.curve.padEnd(9)}  expires ${r.expires}  certificate ${r.certificate.padEnd(7)}  on-chain ${r.chain}  last reading ${r.lastReading}`,
    );
  return `${rows.length} devices, ${rows.filter((r) => r.certificate === "valid").length} with a valid certificate`;
}

/** `device status`: one device, in one line. */
export async function deviceStatus(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", "bridge-url": "string" });
  const name = need(v, "name");
  const row = (await deviceRows(resolve(need(v, "dir")), v["bridge-url"])).find((r) => r.name === name);
  if (!row) throw new SensorOracleError(`No device ${name} in this fleet.`);
  return `device ${row.name} (${row.curve}): certificate ${row.certificate}, expires ${row.expires}, on-chain ${row.chain}, last reading ${row.lastReading}`;
}
