// sensor-oracle's consumer client: fetch a reading (or a feed's latest) with its proof from a
// bridge, turn it into verifyReading's arguments, and verify it on-chain. docs/CONSUMERS.md.
export { sensorFeedAggregatorAbi, sensorFeedsReaderAbi, sensorOracleConsumerAbi } from "./abi.js";
export {
  BridgeRequestError,
  BridgeResponseError,
  BridgeUnreachableError,
  ReadingNotCommittedError,
  ReadingNotVerifiedError,
} from "./errors.js";
export { feedIdOf } from "./feed-id.js";
export {
  type BridgeApi,
  type FetchFeedLatestParameters,
  type FetchReadingParameters,
  fetchFeedLatest,
  fetchReading,
} from "./fetch-reading.js";
export { parseServedReading, type ServedReading } from "./served-reading.js";
export {
  type VerifyReadingOnChainParameters,
  type VerifyReadingOnChainReturnType,
  verifyReadingOnChain,
} from "./verify-reading.js";
export { type OnChainReading, type VerifyReadingArgs, verifyReadingArgs } from "./verify-reading-args.js";
