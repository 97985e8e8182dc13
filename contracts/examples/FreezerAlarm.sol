// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title FreezerAlarm
/// @notice Example consumer written against Chainlink's AggregatorV3Interface only, exactly as for a
/// price feed: it knows nothing of sensor-oracle. Raises an alarm when a fresh reading is too warm.
contract FreezerAlarm {
    AggregatorV3Interface private immutable _feed;
    int256 private immutable _maxValue;
    uint256 private immutable _maxAge;

    bool public alarmed;

    /// @notice Emitted when the alarm is raised.
    event AlarmRaised(int256 answer, uint256 updatedAt);

    /// @notice The feed's latest answer is older than this consumer accepts.
    error FreezerAlarmStaleFeed(uint256 updatedAt, uint256 maxAge);

    /// @param feed any AggregatorV3Interface
    /// @param maxValue highest acceptable answer (in the feed's decimals)
    /// @param maxAge seconds after which the feed's answer is too old to act on
    constructor(AggregatorV3Interface feed, int256 maxValue, uint256 maxAge) {
        _feed = feed;
        _maxValue = maxValue;
        _maxAge = maxAge;
    }

    /// @notice Check the feed; raise the alarm if the fresh answer is above the limit.
    function check() external returns (bool tooWarm) {
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = _feed.latestRoundData();
        if (updatedAt + _maxAge < block.timestamp || answeredInRound < roundId) {
            revert FreezerAlarmStaleFeed(updatedAt, _maxAge);
        }
        tooWarm = answer > _maxValue;
        if (tooWarm && !alarmed) {
            alarmed = true;
            emit AlarmRaised(answer, updatedAt);
        }
    }
}
