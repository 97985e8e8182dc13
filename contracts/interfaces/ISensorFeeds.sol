// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Readings} from "../libraries/Readings.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";

/// @title ISensorFeeds
/// @notice Pushed feeds: each feed's value is the median of the latest signed readings of at least
/// `quorum` distinct allowed devices within `window` seconds of each other, verified on-chain.
interface ISensorFeeds {
    /// @notice A feed's configuration.
    /// @param decimals decimals of the feed's values
    /// @param quorum minimum number of distinct devices in a round (1 allowed)
    /// @param heartbeat seconds after which pushers should update even without a change
    /// @param window seconds: readings in a round lie within this span of the newest one
    struct FeedConfig {
        uint8 decimals;
        uint8 quorum;
        uint32 heartbeat;
        uint32 window;
    }

    /// @notice Why {updateFeeds} skipped a reading. The last three are the registry's
    /// {IDeviceRegistry.SignatureCheck} outcomes other than Valid, in the same order.
    enum SkipReason {
        UnknownFeed,
        DeviceNotAllowed,
        FutureReading,
        ValueOutOfRange,
        UnknownDevice,
        KeyNotValidAtTime,
        BadSignature
    }

    /// @notice Emitted when a feed is configured (created or changed).
    event FeedConfigured(bytes32 indexed feedId, FeedConfig config, bytes32[] devices, string description);
    /// @notice Emitted when a feed gets a new round.
    event FeedUpdated(bytes32 indexed feedId, uint80 indexed roundId, int256 answer, uint64 updatedAt, uint8 devices);
    /// @notice Emitted for a reading not newer than its device's latest for that feed (e.g. a racing pusher).
    event ReadingIgnored(bytes32 indexed feedId, bytes32 indexed deviceId, uint64 timestamp);
    /// @notice Emitted for a reading {updateFeeds} cannot take (see the reason); the other readings of
    /// the call are taken as if it had not been sent, so no reading can hold a feed back.
    event ReadingSkipped(bytes32 indexed feedId, bytes32 indexed deviceId, uint64 timestamp, SkipReason reason);

    /// @notice The feed is not configured.
    error SensorFeedsUnknownFeed(bytes32 feedId);
    /// @notice Readings and signatures differ in number.
    error SensorFeedsLengthMismatch(uint256 readings, uint256 signatures);
    /// @notice The feed configuration is inconsistent.
    error SensorFeedsInvalidConfig(bytes32 feedId);
    /// @notice The feed has no value yet.
    error SensorFeedsNoValue(bytes32 feedId);
    /// @notice The feed's value is older than the caller accepts.
    error SensorFeedsStaleValue(bytes32 feedId, uint256 updatedAt, uint256 maxAge);
    /// @notice The round is unknown or no longer kept.
    error SensorFeedsRoundNotAvailable(bytes32 feedId, uint80 roundId);

    /// @notice Create or change a feed. Only feed admins.
    function configureFeed(
        bytes32 feedId,
        FeedConfig calldata config,
        bytes32[] calldata devices,
        string calldata description
    ) external;

    /// @notice Push signed readings; each moves its device's latest value forward in time, and each
    /// feed touched gets a new round when a quorum of fresh readings agrees on a newer median.
    /// A reading that cannot be taken never reverts the call: an older one is ignored
    /// ({ReadingIgnored}), any other (unknown feed, device not on the feed, dated ahead of the block,
    /// value out of range, signature not valid) is skipped with {ReadingSkipped}.
    function updateFeeds(Readings.Reading[] calldata readings, bytes[] calldata signatures) external;

    /// @notice Chainlink-shaped latest round of a feed (no freshness check; see getValueNoOlderThan).
    function latestRoundData(bytes32 feedId)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice Chainlink-shaped round of a feed, for the last HISTORY rounds.
    function getRoundData(bytes32 feedId, uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice The feed's value if updated within `maxAge` seconds; reverts on a stale or missing value.
    function getValueNoOlderThan(bytes32 feedId, uint256 maxAge) external view returns (int256 value, uint256 updatedAt);

    /// @notice The feed's latest value whatever its age; reverts when there is none.
    function getValueUnsafe(bytes32 feedId) external view returns (int256 value, uint256 updatedAt);

    /// @notice The feed's configuration, devices and description.
    function getFeed(bytes32 feedId)
        external
        view
        returns (FeedConfig memory config, bytes32[] memory devices, string memory description);
}
