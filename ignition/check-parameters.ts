import { isAddress, keccak256, toBytes, zeroAddress } from "viem";
import { SensorOracleError } from "../protocol/errors.js";

/** A deployment parameter that would deploy a broken or unsafe fleet; `key` names it, e.g. SensorOracle.submitter. */
export class DeploymentParametersError extends SensorOracleError {
  override name = "DeploymentParametersError" as const;
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`Ignition parameter ${key} ${problem}.`);
    this.key = key;
  }
}

type Parameters = Record<string, Record<string, unknown> | undefined>;

const ADDRESS_HELP = "a 0x address (e.g. from the bridge's submitter key: see docs/DEPLOY.md)";

function address(params: Parameters, module: string, name: string, required: boolean): void {
  const v = params[module]?.[name];
  const key = `${module}.${name}`;
  if (v === undefined) {
    if (required) throw new DeploymentParametersError(key, `is missing: set it to ${ADDRESS_HELP}`);
    return;
  }
  if (typeof v !== "string" || !isAddress(v, { strict: false }))
    throw new DeploymentParametersError(key, `must be ${ADDRESS_HELP}, not ${JSON.stringify(v)}`);
  if (v.toLowerCase() === zeroAddress)
    throw new DeploymentParametersError(key, "is the zero address: nobody could use the role it grants");
}

/**
 * Check the parameters of ignition/modules/SensorOracle.ts (and Feed.ts, which includes it) before
 * anything is sent: the submitter (and the operator, if given) must be real addresses, never the
 * zero address; a feed needs at least one device, and its feedId must be keccak256 of its name.
 * Ignition resolves parameters only when it runs a module, so `hardhat ignition deploy` runs this
 * first (ignition/deploy-task.ts); programmatic deployments call it themselves.
 */
export function checkDeploymentParameters(params: Parameters, modules: { feed: boolean }): void {
  address(params, "SensorOracle", "submitter", true);
  address(params, "SensorOracle", "operator", false);
  if (!modules.feed) return;
  const feed = params.Feed ?? {};
  if (typeof feed.name !== "string" || feed.name === "")
    throw new DeploymentParametersError(
      "Feed.name",
      "is missing: the feed's name, e.g. cold-room-7/temperature",
    );
  if (feed.feedId !== keccak256(toBytes(feed.name)))
    throw new DeploymentParametersError(
      "Feed.feedId",
      `must be keccak256 of Feed.name (${keccak256(toBytes(feed.name))}), not ${JSON.stringify(feed.feedId)}`,
    );
  const devices = feed.devices;
  if (!Array.isArray(devices) || devices.length === 0)
    throw new DeploymentParametersError(
      "Feed.devices",
      "must list the ids of the registered devices that feed it (printed by `sensor-oracle device enroll`)",
    );
  for (const [i, d] of devices.entries())
    if (typeof d !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(d))
      throw new DeploymentParametersError(
        `Feed.devices[${i}]`,
        `must be a device id (0x + 64 hex digits), not ${JSON.stringify(d)}`,
      );
}
