/**
 * The contracts' ABIs, typed from the compiled artifacts: chain/abi.generated.ts is written by
 * `npm run abi` (scripts/gen-abi.ts) and checked against the artifacts by chain/abi.test.ts.
 * SensorOracle is the fleet's one deployed contract: its device registry and its reading batches.
 * The I* ABIs are the consumer kit's interfaces (contracts/interfaces, consumer/abi.ts).
 */
export {
  coldChainMonitorAbi,
  freezerAlarmAbi,
  iSensorFeedAggregatorAbi,
  iSensorFeedsReaderAbi,
  iSensorOracleAbi,
  sensorFeedsAbi,
  sensorOracleAbi,
} from "./abi.generated.js";
