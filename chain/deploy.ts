import type { NetworkConnection } from "hardhat/types/network";
import type { Address } from "viem";
import SensorOracle from "../ignition/modules/SensorOracle.js";

export type DeployFleetParameters = {
  /** A Hardhat network connection (`await network.create(...)`): in-process or over HTTP. */
  connection: Pick<NetworkConnection, "ignition">;
  /** Gets OPERATOR_ROLE (register, revoke, rotate devices); the deployer when not given. */
  operator?: Address;
  /** The bridge's address: gets SUBMITTER_ROLE (commit batches). */
  submitter: Address;
  /**
   * Over HTTP, Ignition keeps its journal in ignition/deployments/<deploymentId> (default
   * `chain-<chainId>`); an in-process chain keeps none.
   */
  deploymentId?: string;
};

/** The addresses of one fleet's contracts: SensorOracle (registry and batches) and SensorFeeds. */
export type FleetContracts = { oracle: Address; feeds: Address };

/**
 * Deploy one fleet's contracts through the Ignition module ignition/modules/SensorOracle.ts: the
 * one deployment path of `hardhat ignition deploy`, the demo, the tests and the benchmarks. The
 * connection's first account deploys and is the admin.
 */
export async function deployFleet(p: DeployFleetParameters): Promise<FleetContracts> {
  // Typed by name only where Hardhat's artifacts.d.ts files are compiled in: an address is all we need.
  const { oracle, feeds }: Record<"oracle" | "feeds", { address: Address }> =
    await p.connection.ignition.deploy(SensorOracle, {
      parameters: {
        SensorOracle: { submitter: p.submitter, ...(p.operator ? { operator: p.operator } : {}) },
      },
      // Automined chains confirm at once: look for receipts often instead of every second.
      config: { blockPollingInterval: 50 },
      ...(p.deploymentId ? { deploymentId: p.deploymentId } : {}),
    });
  return { oracle: oracle.address, feeds: feeds.address };
}
