import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { keccak256, toBytes } from "viem";

/**
 * The contracts of one fleet: SensorOracle (its device registry and its reading batches in one
 * contract, so a verification reads one account) and SensorFeeds. The deployer is their admin; it
 * grants OPERATOR_ROLE (register, revoke, rotate devices) to `operator` and SUBMITTER_ROLE (commit
 * batches) to the bridge's `submitter` address.
 */
export default buildModule("SensorOracle", (m) => {
  const deployer = m.getAccount(0);
  const operator = m.getParameter("operator", deployer);
  const submitter = m.getParameter<string>("submitter");

  const oracle = m.contract("SensorOracle", [deployer]);
  const feeds = m.contract("SensorFeeds", [oracle, deployer]);

  m.call(oracle, "grantRole", [keccak256(toBytes("OPERATOR_ROLE")), operator], { id: "GrantOperator" });
  m.call(oracle, "grantRole", [keccak256(toBytes("SUBMITTER_ROLE")), submitter], { id: "GrantSubmitter" });

  return { oracle, feeds };
});
