import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { keccak256, toBytes } from "viem";

/**
 * The contracts of one fleet: SensorOracle (its device registry and its reading batches in one
 * contract, so a verification reads one account) and SensorFeeds. The deployer is their admin; it
 * grants OPERATOR_ROLE (register, revoke, rotate devices) to `operator` and SUBMITTER_ROLE (commit
 * batches; pushing feeds needs no role) to the bridge's `submitter` address, then sends the submitter
 * `submitterFunding` wei for its gas (default 0). `hardhat ignition deploy` refuses a missing or
 * zero submitter before sending anything (ignition/check-parameters.ts).
 */
export default buildModule("SensorOracle", (m) => {
  const deployer = m.getAccount(0);
  const operator = m.getParameter("operator", deployer);
  const submitter = m.getParameter<string>("submitter");

  const oracle = m.contract("SensorOracle", [deployer]);
  const feeds = m.contract("SensorFeeds", [oracle, deployer]);

  m.call(oracle, "grantRole", [keccak256(toBytes("OPERATOR_ROLE")), operator], { id: "GrantOperator" });
  const grant = m.call(oracle, "grantRole", [keccak256(toBytes("SUBMITTER_ROLE")), submitter], {
    id: "GrantSubmitter",
  });
  // After the grants, so the contracts keep the deployer's first two addresses on a fresh chain.
  m.send("FundSubmitter", submitter, m.getParameter<bigint>("submitterFunding", 0n), undefined, {
    after: [grant],
  });

  return { oracle, feeds };
});
