import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { sensorFeedsAbi } from "../chain/abi.js";
import type { FleetCa } from "../pki/fleet-ca.js";
import { deviceNameToId, feedIdOf, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import { RevocationError } from "./errors.js";
import type { RegistryWriter } from "./registry-admin.js";
import { type RevokeDevicesReturnType, revokeDevices } from "./revocation.js";

/**
 * Decommissioning a device ("wiped, revoked, and removed from trust systems"):
 * - revoked on-chain with a reason: `retired` from now (its past readings keep verifying),
 *   `compromised` from a time the operator gives (readings signed since then are refused);
 * - its certificates onto the CRL, re-issued (the broker refuses its next connection once it has
 *   re-read the CRL: SIGHUP for Mosquitto);
 * - the broker ACL needs no change: it is one pattern for every device (`pattern write
 *   so/v1/devices/%u/readings`, pki/mosquitto-config.ts), no per-device line to remove; the CRL is
 *   what shuts the device out at the broker;
 * - out of its feeds: SensorFeeds has no "remove a device" call, but `configureFeed` sets a feed's
 *   devices anew, so each feed the device is in is configured again without it (quorum lowered to
 *   what is left when it must be). A feed it was the only device of is left as it is: the
 *   registry's revocation already refuses its readings there;
 * - an audit entry `decommissioned` with the reason.
 */
export type DecommissionReason = "retired" | "compromised";

export type DecommissionParameters = {
  dir: string;
  ca: FleetCa;
  name: string;
  reason: DecommissionReason;
  /** compromised: unix seconds from which its readings are refused (required). */
  since?: number;
  registry?: RegistryWriter;
  /** SensorFeeds, and the feed names the device publishes (its settings bundle's by default). */
  feeds?: { contract: Hex; names?: string[] };
  audit: AuditLog;
  onCrl?: (crlFile: string) => void;
};

export type DecommissionReturnType = {
  since: number;
  revocation: RevokeDevicesReturnType;
  feeds: { feed: string; outcome: "removed" | "not_member" | "sole_device" | "unknown_feed"; tx?: Hex }[];
};

export async function decommissionDevice(p: DecommissionParameters): Promise<DecommissionReturnType> {
  const now = Math.floor(Date.now() / 1000);
  if (p.reason !== "retired" && p.reason !== "compromised")
    throw new RevocationError("bad_reason", "The reason is retired or compromised.", {
      details: String(p.reason),
    });
  if (p.reason === "compromised" && p.since === undefined)
    throw new RevocationError(
      "bad_since",
      "A compromised device is revoked from the time it was compromised: give --since.",
    );
  if (p.reason === "retired" && p.since !== undefined)
    throw new RevocationError(
      "bad_since",
      "A retired device is revoked from now: --since goes with compromised.",
    );
  const since = p.since ?? now;
  const revocation = await revokeDevices({
    dir: p.dir,
    ca: p.ca,
    names: [p.name],
    since,
    ...(p.registry ? { registry: p.registry } : {}),
    audit: p.audit,
    ...(p.onCrl ? { onCrl: p.onCrl } : {}),
  });
  const feeds: DecommissionReturnType["feeds"] = [];
  if (p.registry && p.feeds) {
    const bundle = join(p.dir, "bundles", `${p.name}.json`);
    const names =
      p.feeds.names ??
      (existsSync(bundle)
        ? ((JSON.parse(readFileSync(bundle, "utf8")) as { feeds?: string[] }).feeds ?? [])
        : []);
    for (const feed of names) feeds.push(await removeFromFeed(p.registry, p.feeds.contract, feed, p.name));
  }
  p.audit.append({
    action: "decommissioned",
    device: p.name,
    details: {
      reason: p.reason,
      since,
      feeds: feeds.map((f) => `${f.feed}:${f.outcome}`).join(",") || "none",
    },
  });
  return { since, revocation, feeds };
}

async function removeFromFeed(
  w: RegistryWriter,
  contract: Hex,
  feed: string,
  name: string,
): Promise<DecommissionReturnType["feeds"][number]> {
  const feedId = feedIdOf(feed);
  const deviceId = deviceNameToId(name).toLowerCase();
  let current: readonly [
    { decimals: number; quorum: number; heartbeat: number; window: number },
    readonly Hex[],
    string,
  ];
  try {
    current = await w.publicClient.readContract({
      address: contract,
      abi: sensorFeedsAbi,
      functionName: "getFeed",
      args: [feedId],
    });
  } catch {
    return { feed, outcome: "unknown_feed" };
  }
  const [config, devices, description] = current;
  const rest = devices.filter((d) => d.toLowerCase() !== deviceId);
  if (rest.length === devices.length) return { feed, outcome: "not_member" };
  if (rest.length === 0) return { feed, outcome: "sole_device" };
  const hash = await w.wallet.writeContract({
    address: contract,
    abi: sensorFeedsAbi,
    functionName: "configureFeed",
    args: [feedId, { ...config, quorum: Math.min(config.quorum, rest.length) }, rest, description],
    chain: w.wallet.chain,
    account: w.wallet.account,
  } as never);
  const receipt = await w.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success")
    throw new SensorOracleError(`Removing the device from feed ${feed} reverted.`, { details: hash });
  return { feed, outcome: "removed", tx: hash };
}
