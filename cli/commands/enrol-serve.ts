import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { AuditLog } from "../../fleet/audit-log.js";
import { readAllowList } from "../../fleet/enrolment-allow-list.js";
import { startEnrolmentServer } from "../../fleet/enrolment-server.js";
import { loadFleetCa } from "../../pki/fleet-ca.js";
import { args, need, progress, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";
import { fleetPublicSettings } from "./device-enroll-csr.js";

/**
 * `enrol serve`: the fleet's enrolment endpoint (EST over HTTPS, fleet/enrolment-server.ts), run
 * by the operator beside the fleet folder until SIGTERM or SIGINT. Zero-touch enrolment is opt-in:
 * only with --manifest (the allow-list) and --manufacturer-ca (the pinned CA) does it answer
 * simpleenroll; without them it serves renewal and rotation (simplereenroll) only.
 */
export async function enrolServe(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    port: "string",
    host: "string",
    manifest: "string",
    "manufacturer-ca": "string",
    "server-name": "string",
    "batch-size": "string",
    "batch-window-ms": "string",
    "valid-seconds": "string",
    "certificate-settle-ms": "string",
    "broker-url": "string",
    feeds: "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const port = Number(need(v, "port"));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError("--port must be a port number");
  if (!!v.manifest !== !!v["manufacturer-ca"])
    throw new UsageError("zero-touch enrolment needs both --manifest (the allow-list) and --manufacturer-ca");
  const raw = cfg as typeof cfg & { manufacturerCa?: string };
  const manufacturerCaFile = v["manufacturer-ca"] ?? raw.manufacturerCa;
  const allowList = v.manifest ? readAllowList(v.manifest) : { keys: new Set<string>(), path: "" };
  const ca = await loadFleetCa(join(dir, "ca"));
  const names = (v["server-name"] ?? "localhost,127.0.0.1").split(",").filter(Boolean);
  const ips = names.filter((n) => /^[\d.]+$|:/.test(n));
  const dnsNames = names.filter((n) => !ips.includes(n));
  progress(`issuing the endpoint's TLS certificate for ${names.join(", ")} (kept in memory)`);
  const tls = await ca.issueServer({ commonName: "sensor-oracle enrolment", dnsNames, ips });
  const batchSize = v["batch-size"] ? Number(v["batch-size"]) : 50;
  const server = await startEnrolmentServer(
    {
      dir,
      ca,
      manufacturerCa: manufacturerCaFile ? readFileSync(manufacturerCaFile, "utf8") : "",
      allowList,
      ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
      audit: AuditLog.following(dir),
      settings: fleetPublicSettings(dir, v),
      tls,
      maxBatch: batchSize,
      batchWindowMs: v["batch-window-ms"] ? Number(v["batch-window-ms"]) : 2_000,
      ...(v["valid-seconds"] ? { validSeconds: Number(v["valid-seconds"]) } : {}),
      ...(v["certificate-settle-ms"] ? { certificateSettleMs: Number(v["certificate-settle-ms"]) } : {}),
      log: progress,
    },
    port,
    v.host ?? "0.0.0.0",
  );
  progress(
    `enrolment endpoint on https://${v.host ?? "0.0.0.0"}:${server.port}/.well-known/est/: ${
      v.manifest
        ? `zero-touch for ${allowList.keys.size} factory keys of ${v.manifest}`
        : "zero-touch off (no --manifest)"
    }, renewal and rotation on; registerBatch of up to ${batchSize}`,
  );
  if (!cfg.chain) progress("fleet.json names no chain: devices are certified, not registered");
  await new Promise<void>((done) => {
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
  await server.close();
  const s = server.stats;
  const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
  return `enrolment endpoint stopped: ${s.enrolled} enrolled, ${s.renewed} renewed, ${s.rotated} rotated, ${refused} refused`;
}
