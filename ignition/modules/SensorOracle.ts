import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { keccak256, toBytes } from "viem";

/**
 * The contracts of one fleet: DeviceRegistry, ReadingBatches and SensorFeeds. The deployer is
 * their admin; it grants OPERATOR_ROLE (register, revoke, rotate devices) to `operator` and
 * SUBMITTER_ROLE (commit batches) to the bridge's `submitter` address.
 */
export default buildModule("SensorOracle", (m) => {
  const deployer = m.getAccount(0);
  const operator = m.getParameter("operator", deployer);
  const submitter = m.getParameter<string>("submitter");

  const registry = m.contract("DeviceRegistry", [deployer]);
  const batches = m.contract("ReadingBatches", [registry, deployer]);
  const feeds = m.contract("SensorFeeds", [registry, deployer]);

  m.call(registry, "grantRole", [keccak256(toBytes("OPERATOR_ROLE")), operator], { id: "GrantOperator" });
  m.call(batches, "grantRole", [keccak256(toBytes("SUBMITTER_ROLE")), submitter], { id: "GrantSubmitter" });

  return { registry, batches, feeds };
});
