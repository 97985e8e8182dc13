// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SensorOracleStructs} from "./SensorOracleStructs.sol";

/// @title ISensorFeedsReader
/// @notice What a push consumer reads from a fleet's SensorFeeds contract, by feed id
/// (keccak256 of the feed's name): the latest value with a freshness check, or Chainlink-shaped
/// rounds. A consumer written for Chainlink reads one feed through its SensorFeedAggregator
/// instead (ISensorFeedAggregator). Standalone: the implementation's ABI matches it
/// (test/e2e/consumer-interfaces.test.ts); contracts/mocks/MockSensorFeeds.sol implements it.
interface ISensorFeedsReader {
    /// @notice Emitted when a feed gets a new round.
    event FeedUpdated(bytes32 indexed feedId, uint80 indexed roundId, int256 answer, uint64 updatedAt, uint8 devices);

    /// @notice The feed is not configured.
    error SensorFeedsUnknownFeed(bytes32 feedId);
    /// @notice The feed has no value yet (nothing pushed: is the bridge's `push` configured?).
    error SensorFeedsNoValue(bytes32 feedId);
    /// @notice The feed's value is older than the caller accepts.
    error SensorFeedsStaleValue(bytes32 feedId, uint256 updatedAt, uint256 maxAge);
    /// @notice The round is unknown or no longer kept.
    error SensorFeedsRoundNotAvailable(bytes32 feedId, uint80 roundId);

    /// @notice The feed's value if updated within `maxAge` seconds; reverts when stale or missing.
    function getValueNoOlderThan(bytes32 feedId, uint256 maxAge) external view returns (int256 value, uint256 updatedAt);

    /// @notice The feed's latest value whatever its age; reverts when there is none.
    function getValueUnsafe(bytes32 feedId) external view returns (int256 value, uint256 updatedAt);

    /// @notice Chainlink-shaped latest round of a feed (no freshness check).
    function latestRoundData(bytes32 feedId)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice Chainlink-shaped round of a feed, for the last rounds kept.
    function getRoundData(bytes32 feedId, uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice The feed's configuration, allowed devices and description.
    function getFeed(bytes32 feedId)
        external
        view
        returns (SensorOracleStructs.FeedConfig memory config, bytes32[] memory devices, string memory description);
}
