import { join, resolve } from "node:path";
import type { Hex } from "viem";
import { AuditLog } from "../../fleet/audit-log.js";
import { type DecommissionReason, decommissionDevice } from "../../fleet/decommission.js";
import { reloadBrokerCrl } from "../../fleet/revocation.js";
import { loadFleetCa } from "../../pki/fleet-ca.js";
import { args, need, progress, UsageError } from "../args.js";
import { readFleet, registryWriter } from "../fleet-config.js";

/**
 * `device decommission --name N --reason retired|compromised [--since T]`: revoked on-chain
 * (retired: from now; compromised: from --since), certificates onto the re-issued CRL (the broker
 * told with --broker-pid-file), out of its feeds (--feeds-contract, or fleet.json's
 * "feedsContract"), an audit entry. On the device, `agent wipe` destroys its keys.
 */
export async function deviceDecommission(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    reason: "string",
    since: "string",
    "broker-pid-file": "string",
    "feeds-contract": "string",
    feeds: "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = readFleet(dir);
  const name = need(v, "name");
  const reason = need(v, "reason");
  if (reason !== "retired" && reason !== "compromised")
    throw new UsageError("--reason must be retired or compromised");
  let since: number | undefined;
  if (v.since !== undefined) {
    since = /^\d+$/.test(v.since) ? Number(v.since) : Math.floor(Date.parse(v.since) / 1000);
    if (!Number.isFinite(since)) throw new UsageError("--since is unix seconds or an ISO time");
  }
  const feedsContract = (v["feeds-contract"] ?? (cfg as { feedsContract?: string }).feedsContract) as
    | Hex
    | undefined;
  progress(`decommissioning ${name.slice(0, 8)}… (${reason}): CRL, registry, feeds, audit`);
  let reloaded = "";
  const r = await decommissionDevice({
    dir,
    ca: await loadFleetCa(join(dir, "ca")),
    name,
    reason: reason as DecommissionReason,
    ...(since !== undefined ? { since } : {}),
    ...(cfg.chain ? { registry: registryWriter(cfg.chain) } : {}),
    ...(feedsContract
      ? {
          feeds: {
            contract: feedsContract,
            ...(v.feeds ? { names: v.feeds.split(",").filter(Boolean) } : {}),
          },
        }
      : {}),
    audit: AuditLog.open(dir),
    onCrl: () => {
      if (v["broker-pid-file"]) {
        const pid = reloadBrokerCrl(v["broker-pid-file"]);
        reloaded = ` (broker pid ${pid} re-read it)`;
      }
    },
  });
  const tx = r.revocation.onChain[0];
  const chain = !cfg.chain
    ? "not revoked on-chain (no chain in fleet.json)"
    : tx
      ? `revoked on-chain from ${r.since} in block ${tx.blockNumber}`
      : "revoked on-chain before";
  const feeds = r.feeds.length
    ? `feeds: ${r.feeds.map((f) => `${f.feed} ${f.outcome.replace("_", " ")}`).join(", ")}`
    : feedsContract
      ? "in no feed"
      : "feeds not changed (no --feeds-contract)";
  return `device ${name} decommissioned (${reason}): ${chain}, CRL re-issued${reloaded}, ${feeds}; on the device run: sensor-oracle agent wipe --config <its config>`;
}
