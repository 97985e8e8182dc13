// The consumer kit's ABIs: contracts/interfaces/*.sol as compiled, generated with the project's
// other ABIs by `npm run abi` (scripts/gen-abi.ts; chain/abi.test.ts fails on drift, and
// test/e2e/consumer-interfaces.test.ts checks the interfaces against the deployed contracts' ABIs).

/** ISensorOracle: verifyReading, tryVerifyReading, getBatch, getDevice, domainSeparator, and their errors. */
/** ISensorFeedsReader: a feed by id (getValueNoOlderThan, getValueUnsafe, rounds). */
/** ISensorFeedAggregator: Chainlink's AggregatorV3Interface plus feedId. */
export {
  iSensorFeedAggregatorAbi as sensorFeedAggregatorAbi,
  iSensorFeedsReaderAbi as sensorFeedsReaderAbi,
  iSensorOracleAbi as sensorOracleConsumerAbi,
} from "../chain/abi.js";
