// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {ISensorFeeds} from "./interfaces/ISensorFeeds.sol";
import {FeedState} from "./libraries/FeedState.sol";
import {Readings} from "./libraries/Readings.sol";
import {ReadingDomain} from "./ReadingDomain.sol";

/// @title SensorFeeds
/// @notice Push feeds of verified sensor readings. Anyone may push (the device signatures are the
/// authority); feed admins (FEED_ADMIN_ROLE) configure feeds. Read through {SensorFeedAggregator}
/// as a Chainlink AggregatorV3Interface, or through the freshness-checked getters.
contract SensorFeeds is ISensorFeeds, ReadingDomain, AccessControl {
    /// @notice Role that configures feeds.
    bytes32 public constant FEED_ADMIN_ROLE = keccak256("FEED_ADMIN_ROLE");
    /// @notice Devices per feed at most (bounds the median's cost).
    uint256 public constant MAX_DEVICES_PER_FEED = 32;
    /// @notice Rounds kept per feed for getRoundData.
    uint256 public constant HISTORY = 256;
    /// @notice Seconds a reading may be dated ahead of the block (device clock skew).
    uint256 public constant MAX_FUTURE = 300;

    IDeviceRegistry private immutable _registry;

    // One slot per (feed, device): the allowed flag and the device's latest value for the feed. A
    // feed of one device keeps its latest value in its latest round instead (see _updateSole).
    struct DeviceSlot {
        int192 value;
        uint56 timestamp;
        bool allowed;
    }

    struct Round {
        int192 answer;
        uint64 updatedAt;
    }

    mapping(bytes32 feedId => FeedState) private _feeds;
    mapping(bytes32 feedId => bytes32[]) private _feedDevices;
    mapping(bytes32 feedId => string) private _descriptions;
    mapping(bytes32 feedId => mapping(bytes32 deviceId => DeviceSlot)) private _slots;
    mapping(bytes32 feedId => mapping(uint256 index => Round)) private _rounds;

    /// @param registry_ the fleet's DeviceRegistry
    /// @param admin receives DEFAULT_ADMIN_ROLE and FEED_ADMIN_ROLE
    constructor(IDeviceRegistry registry_, address admin) ReadingDomain(address(registry_)) {
        _registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FEED_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ISensorFeeds
    function configureFeed(
        bytes32 feedId,
        FeedConfig calldata config,
        bytes32[] calldata devices,
        string calldata description
    ) external onlyRole(FEED_ADMIN_ROLE) {
        if (
            config.quorum == 0 || config.quorum > devices.length || devices.length > MAX_DEVICES_PER_FEED
                || config.window == 0 || config.decimals > 36
        ) revert SensorFeedsInvalidConfig(feedId);
        FeedState f = _feeds[feedId];
        bytes32[] storage old = _feedDevices[feedId];
        if (f.deviceCount() == 1 && f.latestRound() != 0) {
            // A feed of one device did not write its device slot: bring it up to date before the
            // slot may count in a median.
            DeviceSlot storage sole = _slots[feedId][old[0]];
            if (f.latestAt() > sole.timestamp) {
                sole.value = _rounds[feedId][f.latestRound() % HISTORY].answer;
                sole.timestamp = uint56(f.latestAt());
            }
        }
        for (uint256 i = 0; i < old.length; ++i) {
            _slots[feedId][old[i]].allowed = false;
        }
        for (uint256 i = 0; i < devices.length; ++i) {
            DeviceSlot storage slot = _slots[feedId][devices[i]];
            if (slot.allowed) revert SensorFeedsInvalidConfig(feedId); // duplicate device
            slot.allowed = true;
        }
        _feedDevices[feedId] = devices;
        _feeds[feedId] = f.withConfig(config, uint8(devices.length));
        _descriptions[feedId] = description;
        emit FeedConfigured(feedId, config, devices, description);
    }

    /// @inheritdoc ISensorFeeds
    function updateFeeds(Readings.Reading[] calldata readings, bytes[] calldata signatures) external {
        if (readings.length != signatures.length) {
            revert SensorFeedsLengthMismatch(readings.length, signatures.length);
        }
        bytes32 separator = _domainSeparator();
        bytes32 pending; // feed with unaggregated readings; readings of one feed are best sent together
        for (uint256 i = 0; i < readings.length; ++i) {
            Readings.Reading calldata r = readings[i];
            if (pending != bytes32(0) && r.feedId != pending) {
                _aggregate(pending);
                pending = bytes32(0);
            }
            FeedState f = _feeds[r.feedId];
            uint256 deviceCount = f.deviceCount();
            if (deviceCount == 0) _skip(r, SkipReason.UnknownFeed);
            else if (deviceCount == 1) _updateSole(r, signatures[i], separator, f);
            else if (_store(r, signatures[i], separator)) pending = r.feedId;
        }
        if (pending != bytes32(0)) _aggregate(pending);
    }

    /// @inheritdoc ISensorFeeds
    function latestRoundData(bytes32 feedId)
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = _feeds[feedId].latestRound();
        if (roundId == 0) revert SensorFeedsNoValue(feedId);
        Round memory r = _rounds[feedId][roundId % HISTORY];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc ISensorFeeds
    function getRoundData(bytes32 feedId, uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint80 latest = _feeds[feedId].latestRound();
        if (roundId == 0 || roundId > latest || latest - roundId >= HISTORY) {
            revert SensorFeedsRoundNotAvailable(feedId, roundId);
        }
        Round memory r = _rounds[feedId][roundId % HISTORY];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc ISensorFeeds
    function getValueNoOlderThan(bytes32 feedId, uint256 maxAge) external view returns (int256 value, uint256 updatedAt) {
        (, value,, updatedAt,) = latestRoundData(feedId);
        if (updatedAt + maxAge < block.timestamp) revert SensorFeedsStaleValue(feedId, updatedAt, maxAge);
    }

    /// @inheritdoc ISensorFeeds
    function getValueUnsafe(bytes32 feedId) external view returns (int256 value, uint256 updatedAt) {
        (, value,, updatedAt,) = latestRoundData(feedId);
    }

    /// @inheritdoc ISensorFeeds
    function getFeed(bytes32 feedId)
        external
        view
        returns (FeedConfig memory config, bytes32[] memory devices, string memory description)
    {
        FeedState f = _feeds[feedId];
        if (f.deviceCount() == 0) revert SensorFeedsUnknownFeed(feedId);
        return (f.config(), _feedDevices[feedId], _descriptions[feedId]);
    }

    /// @notice The registry device signatures are checked against.
    function registry() external view returns (IDeviceRegistry) {
        return _registry;
    }

    // A feed of one device (its quorum is 1): every newer reading is a round, with no device slot
    // written and no median (one cold slot read for the allowed flag, one written for the round).
    function _updateSole(Readings.Reading calldata r, bytes calldata signature, bytes32 separator, FeedState f)
        private
    {
        DeviceSlot storage slot = _slots[r.feedId][r.deviceId];
        if (!slot.allowed) return _skip(r, SkipReason.DeviceNotAllowed);
        if (_isFuture(r)) return _skip(r, SkipReason.FutureReading);
        if (r.timestamp <= f.latestAt() || r.timestamp <= slot.timestamp) {
            emit ReadingIgnored(r.feedId, r.deviceId, r.timestamp);
            return;
        }
        if (_outOfRange(r.value)) return _skip(r, SkipReason.ValueOutOfRange);
        if (!_verified(r, signature, separator)) return;
        _newRound(r.feedId, f, int192(r.value), r.timestamp, 1);
    }

    // Verify one reading and store it as its device's latest; false when it is not newer.
    function _store(Readings.Reading calldata r, bytes calldata signature, bytes32 separator) private returns (bool) {
        DeviceSlot storage slot = _slots[r.feedId][r.deviceId];
        DeviceSlot memory current = slot;
        if (!current.allowed) {
            _skip(r, SkipReason.DeviceNotAllowed);
            return false;
        }
        if (_isFuture(r)) {
            _skip(r, SkipReason.FutureReading);
            return false;
        }
        if (r.timestamp <= current.timestamp) {
            emit ReadingIgnored(r.feedId, r.deviceId, r.timestamp);
            return false;
        }
        if (_outOfRange(r.value)) {
            _skip(r, SkipReason.ValueOutOfRange);
            return false;
        }
        if (!_verified(r, signature, separator)) return false;
        slot.value = int192(r.value);
        slot.timestamp = uint56(r.timestamp);
        return true;
    }

    // A reading the call cannot take: reported, and left out like a reading never sent.
    function _skip(Readings.Reading calldata r, SkipReason reason) private {
        emit ReadingSkipped(r.feedId, r.deviceId, r.timestamp, reason);
    }

    function _isFuture(Readings.Reading calldata r) private view returns (bool) {
        return r.timestamp > block.timestamp + MAX_FUTURE;
    }

    function _outOfRange(int256 value) private pure returns (bool) {
        return value > type(int192).max || value < type(int192).min;
    }

    // Whether the signature is the device's by a key valid at the reading's time; skips it if not.
    function _verified(Readings.Reading calldata r, bytes calldata signature, bytes32 separator)
        private
        returns (bool)
    {
        IDeviceRegistry.SignatureCheck check =
            _registry.checkSignature(r.deviceId, r.timestamp, Readings.digest(r, separator), signature);
        if (check == IDeviceRegistry.SignatureCheck.Valid) return true;
        // UnknownDevice, KeyNotValidAtTime, BadSignature map to the last three reasons, in order.
        _skip(r, SkipReason(uint8(check) + uint8(SkipReason.ValueOutOfRange)));
        return false;
    }

    // A new round from the latest readings within the window of the newest one, if a quorum has them
    // and the round would be newer than the last.
    function _aggregate(bytes32 feedId) private {
        FeedState f = _feeds[feedId];
        bytes32[] storage devices = _feedDevices[feedId];
        uint256 n = devices.length;
        int192[] memory values = new int192[](n);
        uint56[] memory times = new uint56[](n);
        uint56 newest;
        for (uint256 i = 0; i < n; ++i) {
            DeviceSlot memory s = _slots[feedId][devices[i]];
            values[i] = s.value;
            times[i] = s.timestamp;
            if (s.timestamp > newest) newest = s.timestamp;
        }
        uint256 count;
        for (uint256 i = 0; i < n; ++i) {
            if (times[i] != 0 && uint256(times[i]) + f.window() > newest) values[count++] = values[i];
        }
        if (count < f.quorum() || f.latestAt() >= newest) return;
        _newRound(feedId, f, _median(values, count), newest, uint8(count));
    }

    // The feed's next round: written to its slot of the history ring, and made the latest.
    function _newRound(bytes32 feedId, FeedState f, int192 answer, uint64 updatedAt, uint8 devices) private {
        uint80 roundId = f.latestRound() + 1;
        _rounds[feedId][roundId % HISTORY] = Round({answer: answer, updatedAt: updatedAt});
        _feeds[feedId] = f.withLatest(roundId, updatedAt);
        emit FeedUpdated(feedId, roundId, answer, updatedAt, devices);
    }

    // Median of the first `count` values (insertion sort: count <= MAX_DEVICES_PER_FEED); the mean of
    // the two middle values for an even count, rounded toward zero.
    function _median(int192[] memory v, uint256 count) private pure returns (int192) {
        for (uint256 i = 1; i < count; ++i) {
            int192 x = v[i];
            uint256 j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                --j;
            }
            v[j] = x;
        }
        uint256 mid = count / 2;
        if (count % 2 == 1) return v[mid];
        return int192((int256(v[mid - 1]) + int256(v[mid])) / 2);
    }
}
