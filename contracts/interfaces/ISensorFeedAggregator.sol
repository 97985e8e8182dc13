// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title ISensorFeedAggregator
/// @notice One pushed sensor feed as a Chainlink AggregatorV3Interface (a deployed
/// SensorFeedAggregator), so a consumer written for Chainlink feeds reads it unchanged. Check
/// `updatedAt` against your own maximum age: latestRoundData does not. Reverts with
/// ISensorFeedsReader's SensorFeedsNoValue before the first push, SensorFeedsRoundNotAvailable for
/// a round not kept. contracts/mocks/MockSensorFeed.sol implements it.
interface ISensorFeedAggregator is AggregatorV3Interface {
    /// @notice The feed id (keccak256 of the feed's name) this aggregator exposes.
    function feedId() external view returns (bytes32);
}
