// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISensorFeedAggregator} from "../interfaces/ISensorFeedAggregator.sol";
import {ISensorFeedsReader} from "../interfaces/ISensorFeedsReader.sol";

/// @title MockSensorFeed
/// @notice One sensor feed as an AggregatorV3Interface whose rounds a consumer's test sets, in the
/// manner of Pyth's MockPyth: {setAnswer} and {setRound} add a round. Before the first round and
/// for rounds never set it reverts as the real aggregator does (SensorFeedsNoValue,
/// SensorFeedsRoundNotAvailable). Never deploy it where value is at stake.
contract MockSensorFeed is ISensorFeedAggregator {
    struct Round {
        int256 answer;
        uint256 updatedAt;
    }

    uint8 private immutable _decimals;
    bytes32 private immutable _feedId;
    string private _description;
    uint80 private _latest;
    mapping(uint80 roundId => Round) private _rounds;

    /// @param decimals_ the feed's decimals (sensor-oracle's default: 2)
    /// @param description_ the feed's name, e.g. "cold-room-7/temperature"
    constructor(uint8 decimals_, string memory description_) {
        _decimals = decimals_;
        _description = description_;
        _feedId = keccak256(bytes(description_));
    }

    /// @notice A new round with `answer`, updated now.
    function setAnswer(int256 answer) external returns (uint80 roundId) {
        return setRound(answer, block.timestamp);
    }

    /// @notice A new round with `answer`, updated at `updatedAt` (e.g. in the past, to test staleness).
    function setRound(int256 answer, uint256 updatedAt) public returns (uint80 roundId) {
        roundId = ++_latest;
        _rounds[roundId] = Round(answer, updatedAt);
    }

    /// @inheritdoc ISensorFeedAggregator
    function feedId() external view returns (bytes32) {
        return _feedId;
    }

    /// @notice The feed's decimals.
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @notice The feed's name.
    function description() external view returns (string memory) {
        return _description;
    }

    /// @notice The aggregator's version (1, as the real one).
    function version() external pure returns (uint256) {
        return 1;
    }

    /// @notice A round set earlier; reverts SensorFeedsRoundNotAvailable for any other.
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        if (roundId == 0 || roundId > _latest) revert ISensorFeedsReader.SensorFeedsRoundNotAvailable(_feedId, roundId);
        Round memory r = _rounds[roundId];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @notice The latest round; reverts SensorFeedsNoValue before the first.
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        if (_latest == 0) revert ISensorFeedsReader.SensorFeedsNoValue(_feedId);
        Round memory r = _rounds[_latest];
        return (_latest, r.answer, r.updatedAt, r.updatedAt, _latest);
    }
}
