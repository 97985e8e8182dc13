// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {ISensorFeeds} from "./interfaces/ISensorFeeds.sol";

/// @title SensorFeedAggregator
/// @notice One sensor feed as a Chainlink AggregatorV3Interface, so consumer contracts written for
/// Chainlink price feeds read sensor values unchanged.
contract SensorFeedAggregator is AggregatorV3Interface {
    ISensorFeeds private immutable _feeds;
    bytes32 private immutable _feedId;

    /// @param feeds_ the SensorFeeds contract
    /// @param feedId_ the feed this aggregator exposes
    constructor(ISensorFeeds feeds_, bytes32 feedId_) {
        _feeds = feeds_;
        _feedId = feedId_;
        feeds_.getFeed(feedId_); // reverts for an unknown feed
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        (ISensorFeeds.FeedConfig memory config,,) = _feeds.getFeed(_feedId);
        return config.decimals;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        (,, string memory d) = _feeds.getFeed(_feedId);
        return d;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 1;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        return _feeds.getRoundData(_feedId, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return _feeds.latestRoundData(_feedId);
    }

    /// @notice The feed id this aggregator exposes.
    function feedId() external view returns (bytes32) {
        return _feedId;
    }
}
