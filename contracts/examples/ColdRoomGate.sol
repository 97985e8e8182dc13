// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title ColdRoomGate
/// @notice Push example (docs/CONSUMERS.md): releases goods from a cold room only while its pushed
/// temperature feed is fresh and cold enough. Reads the feed through Chainlink's
/// AggregatorV3Interface only (a SensorFeedAggregator, or a MockSensorFeed in tests), and refuses a
/// stale value: latestRoundData itself does not check age.
contract ColdRoomGate {
    AggregatorV3Interface public immutable feed;
    int256 public immutable maxValue;
    uint256 public immutable maxAge;

    /// @notice How many releases were made.
    uint256 public releases;

    /// @notice Emitted for each release, with the temperature it was allowed on.
    event Released(uint256 indexed release, int256 temperature, uint256 updatedAt);

    /// @notice The feed's latest value is older than `maxAge` (is the bridge pushing?).
    error ColdRoomGateStaleFeed(uint256 updatedAt, uint256 maxAge, uint256 nowTime);
    /// @notice The room is warmer than allowed.
    error ColdRoomGateTooWarm(int256 temperature, int256 maxValue);

    /// @param feed_ the room's feed, any AggregatorV3Interface
    /// @param maxValue_ the warmest temperature allowed, in the feed's decimals
    /// @param maxAge_ seconds after which the feed's value is too old to act on
    constructor(AggregatorV3Interface feed_, int256 maxValue_, uint256 maxAge_) {
        feed = feed_;
        maxValue = maxValue_;
        maxAge = maxAge_;
    }

    /// @notice The room's temperature, if fresh; reverts ColdRoomGateStaleFeed otherwise.
    function temperature() public view returns (int256 answer, uint256 updatedAt) {
        uint80 roundId;
        uint80 answeredInRound;
        (roundId, answer,, updatedAt, answeredInRound) = feed.latestRoundData();
        if (updatedAt + maxAge < block.timestamp || answeredInRound < roundId) {
            revert ColdRoomGateStaleFeed(updatedAt, maxAge, block.timestamp);
        }
    }

    /// @notice Release goods: only on a fresh temperature at or below the limit.
    function release() external returns (int256 answer) {
        uint256 updatedAt;
        (answer, updatedAt) = temperature();
        if (answer > maxValue) revert ColdRoomGateTooWarm(answer, maxValue);
        releases += 1;
        emit Released(releases, answer, updatedAt);
    }
}
