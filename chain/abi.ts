/**
 * The contracts' ABIs, typed from the compiled artifacts: chain/abi.generated.ts is written by
 * `npm run abi` (scripts/gen-abi.ts) and checked against the artifacts by chain/abi.test.ts.
 */
export {
  coldChainMonitorAbi,
  deviceRegistryAbi,
  freezerAlarmAbi,
  readingBatchesAbi,
  sensorFeedsAbi,
} from "./abi.generated.js";
