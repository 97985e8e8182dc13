// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISensorFeedsReader} from "../interfaces/ISensorFeedsReader.sol";
import {SensorOracleStructs} from "../interfaces/SensorOracleStructs.sol";

/// @title MockSensorFeeds
/// @notice A SensorFeeds contract whose feeds and values a consumer's test sets: {setFeed}
/// configures a feed, {setValue} adds a round. Reverts as the real contract does (unknown feed, no
/// value, stale value, round not available). Never deploy it where value is at stake.
contract MockSensorFeeds is ISensorFeedsReader {
    struct Round {
        int256 answer;
        uint256 updatedAt;
    }

    struct Feed {
        SensorOracleStructs.FeedConfig config;
        string description;
        uint80 latest;
        bool configured;
    }

    mapping(bytes32 feedId => Feed) private _feeds;
    mapping(bytes32 feedId => mapping(uint80 roundId => Round)) private _rounds;

    /// @notice Configure a feed with its decimals and description (quorum 1, heartbeat 3600 s, window 300 s).
    function setFeed(bytes32 feedId, uint8 decimals, string calldata description) external {
        Feed storage f = _feeds[feedId];
        f.config = SensorOracleStructs.FeedConfig(decimals, 1, 3600, 300);
        f.description = description;
        f.configured = true;
    }

    /// @notice A new round of a configured feed with `answer`, updated at `updatedAt`.
    function setValue(bytes32 feedId, int256 answer, uint256 updatedAt) external returns (uint80 roundId) {
        Feed storage f = _known(feedId);
        roundId = ++f.latest;
        _rounds[feedId][roundId] = Round(answer, updatedAt);
        emit FeedUpdated(feedId, roundId, answer, uint64(updatedAt), 1);
    }

    /// @inheritdoc ISensorFeedsReader
    function getValueNoOlderThan(bytes32 feedId, uint256 maxAge) external view returns (int256 value, uint256 updatedAt) {
        (value, updatedAt) = _value(feedId);
        if (updatedAt + maxAge < block.timestamp) revert SensorFeedsStaleValue(feedId, updatedAt, maxAge);
    }

    /// @inheritdoc ISensorFeedsReader
    function getValueUnsafe(bytes32 feedId) external view returns (int256 value, uint256 updatedAt) {
        return _value(feedId);
    }

    /// @inheritdoc ISensorFeedsReader
    function latestRoundData(bytes32 feedId) external view returns (uint80, int256, uint256, uint256, uint80) {
        uint80 latest = _feeds[feedId].latest;
        if (latest == 0) revert SensorFeedsNoValue(feedId);
        Round memory r = _rounds[feedId][latest];
        return (latest, r.answer, r.updatedAt, r.updatedAt, latest);
    }

    /// @inheritdoc ISensorFeedsReader
    function getRoundData(bytes32 feedId, uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        if (roundId == 0 || roundId > _feeds[feedId].latest) revert SensorFeedsRoundNotAvailable(feedId, roundId);
        Round memory r = _rounds[feedId][roundId];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc ISensorFeedsReader
    function getFeed(bytes32 feedId)
        external
        view
        returns (SensorOracleStructs.FeedConfig memory config, bytes32[] memory devices, string memory description)
    {
        Feed storage f = _known(feedId);
        return (f.config, new bytes32[](0), f.description);
    }

    function _known(bytes32 feedId) private view returns (Feed storage f) {
        f = _feeds[feedId];
        if (!f.configured) revert SensorFeedsUnknownFeed(feedId);
    }

    function _value(bytes32 feedId) private view returns (int256, uint256) {
        uint80 latest = _feeds[feedId].latest;
        if (latest == 0) revert SensorFeedsNoValue(feedId);
        Round memory r = _rounds[feedId][latest];
        return (r.answer, r.updatedAt);
    }
}
