// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {FreezerAlarm} from "../examples/FreezerAlarm.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {ISensorFeeds} from "../interfaces/ISensorFeeds.sol";
import {Readings} from "../libraries/Readings.sol";
import {SensorFeedAggregator} from "../SensorFeedAggregator.sol";
import {SensorFeeds} from "../SensorFeeds.sol";
import {Fixture} from "./utils/Fixture.sol";

contract SensorFeedsTest is Fixture {
    IDeviceRegistry.Curve private constant K1 = IDeviceRegistry.Curve.Secp256k1;
    IDeviceRegistry.Curve private constant P256 = IDeviceRegistry.Curve.P256;
    SensorFeeds private feeds;
    bytes32 private constant FEED = keccak256("cold-room-7/temperature");
    uint256[3] private sks = [uint256(0xA1), 0xA2, 0xA3];
    bytes32[3] private ids;

    function setUp() public {
        _deployOracle();
        feeds = new SensorFeeds(registry, address(this));
        for (uint256 i = 0; i < 3; i++) {
            ids[i] = _register(K1, sks[i]);
        }
    }

    function _configure(uint8 quorum, uint32 window) private {
        bytes32[] memory devs = new bytes32[](3);
        for (uint256 i = 0; i < 3; i++) {
            devs[i] = ids[i];
        }
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(2, quorum, 3600, window), devs, "cold room 7 (centi-degC)");
    }

    function _configureSole(uint256 i) private {
        bytes32[] memory devs = new bytes32[](1);
        devs[0] = ids[i];
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(2, 1, 3600, 60), devs, "cold room 7 (centi-degC)");
    }

    function _reading(uint256 i, int256 value, uint64 t)
        private
        view
        returns (Readings.Reading[] memory rs, bytes[] memory sigs)
    {
        rs = new Readings.Reading[](1);
        sigs = new bytes[](1);
        rs[0] = Readings.Reading(ids[i], FEED, value, t, t);
        sigs[0] = _sign(K1, sks[i], rs[0]);
    }

    function _push(uint256 i, int256 value, uint64 t) private {
        (Readings.Reading[] memory rs, bytes[] memory sigs) = _reading(i, value, t);
        feeds.updateFeeds(rs, sigs);
    }

    /// Pushes a reading of device `i` that the feed ignores (not newer than the device's latest).
    function _pushIgnored(uint256 i, int256 value, uint64 t) private {
        vm.expectEmit(address(feeds));
        emit ISensorFeeds.ReadingIgnored(FEED, ids[i], t);
        _push(i, value, t);
    }

    /// Expects the next call to skip reading `r` for `reason`.
    function _expectSkipped(Readings.Reading memory r, ISensorFeeds.SkipReason reason) private {
        vm.expectEmit(address(feeds));
        emit ISensorFeeds.ReadingSkipped(r.feedId, r.deviceId, r.timestamp, reason);
    }

    /// Pushes one reading that the feed skips for `reason` (the call itself succeeds).
    function _pushSkipped(Readings.Reading[] memory rs, bytes[] memory sigs, ISensorFeeds.SkipReason reason)
        private
    {
        _expectSkipped(rs[0], reason);
        feeds.updateFeeds(rs, sigs);
    }

    function _latest() private view returns (uint80 round, int256 answer, uint256 updatedAt) {
        (round, answer,, updatedAt,) = feeds.latestRoundData(FEED);
    }

    /// The latest answer is `answer`.
    function _assertAnswer(int256 answer, string memory why) private view {
        (, int256 latestAnswer,) = _latest();
        assertTrue(latestAnswer == answer, why);
    }

    /// The latest round is `round` with `answer`.
    function _assertLatest(uint80 round, int256 answer, string memory roundWhy, string memory answerWhy)
        private
        view
    {
        (uint80 latestRound, int256 latestAnswer,) = _latest();
        assertEq(latestRound, round, roundWhy);
        assertTrue(latestAnswer == answer, answerWhy);
    }

    function test_quorumOfOneUpdatesOnEveryNewerReading() public {
        _configure(1, 60);
        _push(0, -1800, uint64(block.timestamp - 10));
        (uint80 round, int256 answer, uint256 updatedAt) = _latest();
        assertEq(round, 1, "round");
        assertTrue(answer == -1800, "answer");
        assertEq(updatedAt, block.timestamp - 10, "updatedAt");
    }

    function test_aFeedOfOneDeviceMakesARoundOfEachNewerReadingAndIgnoresOlderOnes() public {
        _configureSole(0);
        uint64 t = uint64(block.timestamp - 100);
        _push(0, 10, t);
        _push(0, 20, t + 5);
        _pushIgnored(0, 99, t + 5);
        _pushIgnored(0, 99, t + 1);
        (uint80 round, int256 answer, uint256 updatedAt) = _latest();
        assertEq(round, 2, "two rounds");
        assertTrue(answer == 20, "the newest reading");
        assertEq(updatedAt, t + 5, "its time");
        (, int256 first,,,) = feeds.getRoundData(FEED, 1);
        assertTrue(first == 10, "round 1 kept");
    }

    function test_aFeedOfOneDeviceSkipsOutsidersForgedFutureAndOutOfRangeReadings() public {
        _configureSole(0);
        (Readings.Reading[] memory rs, bytes[] memory sigs) = _reading(1, 5, uint64(block.timestamp));
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.DeviceNotAllowed);

        (rs, sigs) = _reading(0, 5, uint64(block.timestamp));
        sigs[0] = _sign(K1, sks[1], rs[0]);
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.BadSignature);

        (rs, sigs) = _reading(0, 5, uint64(block.timestamp + feeds.MAX_FUTURE() + 1));
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.FutureReading);

        (rs, sigs) = _reading(0, int256(type(int192).max) + 1, uint64(block.timestamp));
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.ValueOutOfRange);

        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsNoValue.selector, FEED));
        feeds.latestRoundData(FEED);
    }

    function test_aFeedThatGainsDevicesCountsItsFormerSoleDevicesLatestReading() public {
        _configureSole(0);
        uint64 t = uint64(block.timestamp - 30);
        _push(0, 100, t);
        _configure(2, 60);
        _push(1, 201, t + 1);
        _assertLatest(2, 150, "a second round from two devices", "median of the sole device's reading and the new one");
    }

    function test_aFeedThatLosesDevicesStillIgnoresReadingsOlderThanTheDevicesLatest() public {
        _configure(3, 60);
        uint64 t = uint64(block.timestamp - 30);
        _push(0, 100, t + 5); // no quorum: no round, but the device's latest is t + 5
        _configureSole(0);
        _pushIgnored(0, 90, t + 3);
        _push(0, 110, t + 6);
        _assertLatest(1, 110, "one round", "the newer reading");
    }

    function test_noRoundUntilTheQuorumIsReachedThenTheMedian() public {
        _configure(3, 60);
        uint64 t = uint64(block.timestamp - 20);
        _push(0, 100, t);
        _push(1, 900, t + 1);
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsNoValue.selector, FEED));
        feeds.latestRoundData(FEED);
        _push(2, 300, t + 2);
        (uint80 round, int256 answer, uint256 updatedAt) = _latest();
        assertEq(round, 1, "one round");
        assertTrue(answer == 300, "median of 100, 900, 300");
        assertEq(updatedAt, t + 2, "newest reading time");
    }

    function test_evenCountTakesTheMeanOfTheMiddleTwo() public {
        _configure(2, 60);
        uint64 t = uint64(block.timestamp - 20);
        _push(0, 100, t);
        _push(1, 201, t + 1);
        _assertAnswer(150, "(100 + 201) / 2 rounded toward zero");
    }

    function test_readingsOutsideTheWindowDoNotCount() public {
        _configure(2, 60);
        uint64 t = uint64(block.timestamp - 1000);
        _push(0, 100, t);
        _push(1, 200, t + 60); // exactly window seconds later: the first is out
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsNoValue.selector, FEED));
        feeds.latestRoundData(FEED);
        _push(0, 110, t + 61);
        _assertAnswer(155, "both within the window");
    }

    function test_anOlderOrEqualReadingIsIgnoredWithAnEventAndNeverMovesTheFeedBack() public {
        _configure(1, 60);
        uint64 t = uint64(block.timestamp - 10);
        _push(0, 500, t);
        _pushIgnored(0, 999, t); // same time
        _pushIgnored(0, 999, t - 5); // older
        _assertLatest(1, 500, "still one round", "value unchanged");
    }

    function test_skipsAReadingFromADeviceNotAllowedForTheFeed() public {
        _configure(1, 60);
        bytes32 outsider = _register(K1, 0xA4);
        Readings.Reading[] memory rs = new Readings.Reading[](1);
        bytes[] memory sigs = new bytes[](1);
        rs[0] = Readings.Reading(outsider, FEED, 1, uint64(block.timestamp), 1);
        sigs[0] = _sign(K1, 0xA4, rs[0]);
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.DeviceNotAllowed);
    }

    function test_skipsASignatureFromAnotherDeviceOrCurve() public {
        _configure(1, 60);
        (Readings.Reading[] memory rs, bytes[] memory sigs) = _reading(0, 1, uint64(block.timestamp));
        sigs[0] = _sign(K1, sks[1], rs[0]); // device 1 signs device 0's reading
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.BadSignature);
        sigs[0] = _sign(P256, sks[0], rs[0]); // a P-256 signature for a secp256k1 device
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.BadSignature);
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsNoValue.selector, FEED));
        feeds.latestRoundData(FEED);
    }

    function test_skipsAReadingDatedAheadOfTheBlock() public {
        _configure(1, 60);
        (Readings.Reading[] memory rs, bytes[] memory sigs) =
            _reading(0, 1, uint64(block.timestamp + feeds.MAX_FUTURE() + 1));
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.FutureReading);
    }

    function test_skipsAReadingOfAnUnknownFeed() public {
        _configure(1, 60);
        (Readings.Reading[] memory rs, bytes[] memory sigs) = _reading(0, 1, uint64(block.timestamp));
        rs[0].feedId = keccak256("no such feed");
        sigs[0] = _sign(K1, sks[0], rs[0]);
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.UnknownFeed);
    }

    function test_skipsAReadingOfAnUnregisteredDevice() public {
        bytes32 stranger = keccak256("never registered");
        bytes32[] memory devs = new bytes32[](1);
        devs[0] = stranger;
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(2, 1, 3600, 60), devs, "");
        Readings.Reading[] memory rs = new Readings.Reading[](1);
        bytes[] memory sigs = new bytes[](1);
        rs[0] = Readings.Reading(stranger, FEED, 1, uint64(block.timestamp), 1);
        sigs[0] = _sign(K1, sks[0], rs[0]);
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.UnknownDevice);
    }

    function test_skipsAReadingOfARevokedDeviceFromTheRevocationOn() public {
        _configure(1, 60);
        uint64 t = uint64(block.timestamp - 100);
        vm.prank(OPERATOR);
        registry.revoke(ids[0], uint40(t + 10));
        _push(0, 7, t + 9); // before the revocation: still taken
        _assertLatest(1, 7, "one round", "the reading before the revocation");
        (Readings.Reading[] memory rs, bytes[] memory sigs) = _reading(0, 8, t + 10);
        _pushSkipped(rs, sigs, ISensorFeeds.SkipReason.KeyNotValidAtTime);
        _assertLatest(1, 7, "still one round", "value unchanged");
    }

    /// One call with a reading of every kind that cannot be taken, around good readings of two
    /// feeds: each bad one is skipped with its reason, and the good ones make their rounds.
    function test_readingsThatCannotBeTakenNeverHoldBackTheOthersInTheSameCall() public {
        _configure(2, 60); // FEED: devices 0, 1, 2, quorum 2
        bytes32 sole = keccak256("cold-room-8/temperature");
        bytes32[] memory one = new bytes32[](1);
        one[0] = ids[2];
        feeds.configureFeed(sole, ISensorFeeds.FeedConfig(2, 1, 3600, 60), one, "cold room 8");
        bytes32 outsider = _register(K1, 0xA4);
        vm.prank(OPERATOR);
        registry.revoke(ids[1], uint40(block.timestamp - 50));
        uint64 t = uint64(block.timestamp - 20);

        Readings.Reading[] memory rs = new Readings.Reading[](9);
        bytes[] memory sigs = new bytes[](9);
        rs[0] = Readings.Reading(outsider, FEED, 1, t, 1); // not on the feed
        sigs[0] = _sign(K1, 0xA4, rs[0]);
        rs[1] = Readings.Reading(ids[0], FEED, 100, t, 1); // good
        sigs[1] = _sign(K1, sks[0], rs[1]);
        rs[2] = Readings.Reading(ids[1], FEED, 5, t, 1); // revoked since before t
        sigs[2] = _sign(K1, sks[1], rs[2]);
        rs[3] = Readings.Reading(ids[2], FEED, 300, t + 1, 1); // good
        sigs[3] = _sign(K1, sks[2], rs[3]);
        rs[4] = Readings.Reading(ids[0], FEED, 9, uint64(block.timestamp + 400), 2); // dated ahead
        sigs[4] = _sign(K1, sks[0], rs[4]);
        rs[5] = Readings.Reading(ids[2], keccak256("unknown"), 1, t, 2); // unknown feed
        sigs[5] = _sign(K1, sks[2], rs[5]);
        rs[6] = Readings.Reading(ids[2], sole, int256(type(int192).min) - 1, t, 3); // out of range
        sigs[6] = _sign(K1, sks[2], rs[6]);
        rs[7] = Readings.Reading(ids[2], sole, 42, t + 2, 4); // forged: signed by device 0
        sigs[7] = _sign(K1, sks[0], rs[7]);
        rs[8] = Readings.Reading(ids[2], sole, 41, t + 3, 5); // good
        sigs[8] = _sign(K1, sks[2], rs[8]);

        _expectSkipped(rs[0], ISensorFeeds.SkipReason.DeviceNotAllowed);
        _expectSkipped(rs[2], ISensorFeeds.SkipReason.KeyNotValidAtTime);
        _expectSkipped(rs[4], ISensorFeeds.SkipReason.FutureReading);
        vm.expectEmit(address(feeds));
        emit ISensorFeeds.FeedUpdated(FEED, 1, 200, t + 1, 2);
        _expectSkipped(rs[5], ISensorFeeds.SkipReason.UnknownFeed);
        _expectSkipped(rs[6], ISensorFeeds.SkipReason.ValueOutOfRange);
        _expectSkipped(rs[7], ISensorFeeds.SkipReason.BadSignature);
        vm.expectEmit(address(feeds));
        emit ISensorFeeds.FeedUpdated(sole, 1, 41, t + 3, 1);
        feeds.updateFeeds(rs, sigs);

        _assertLatest(1, 200, "FEED: one round", "median of devices 0 and 2");
        (, int256 answer,, uint256 updatedAt,) = feeds.latestRoundData(sole);
        assertTrue(answer == 41, "the sole feed took its good reading");
        assertEq(updatedAt, t + 3, "at its time");
    }

    function test_getValueNoOlderThanRevertsOnAStaleValue() public {
        _configure(1, 60);
        uint64 t = uint64(block.timestamp - 100);
        _push(0, 42, t);
        (int256 v,) = feeds.getValueNoOlderThan(FEED, 100);
        assertTrue(v == 42, "fresh enough");
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsStaleValue.selector, FEED, t, 99));
        feeds.getValueNoOlderThan(FEED, 99);
        (int256 unsafeValue,) = feeds.getValueUnsafe(FEED);
        assertTrue(unsafeValue == 42, "unsafe returns it anyway");
    }

    function test_aggregatorServesChainlinkConsumersAndKeepsABoundedHistory() public {
        _configure(1, 60);
        SensorFeedAggregator agg = new SensorFeedAggregator(feeds, FEED);
        uint64 t = uint64(block.timestamp - 1000);
        for (uint64 i = 0; i < 3; i++) {
            _push(0, int256(uint256(i)) * 10, t + i);
        }
        assertEq(agg.decimals(), 2, "decimals");
        assertEq(agg.version(), 1, "version");
        assertTrue(keccak256(bytes(agg.description())) == keccak256("cold room 7 (centi-degC)"), "description");
        (uint80 round, int256 answer,,,) = agg.latestRoundData();
        assertEq(round, 3, "latest round");
        assertTrue(answer == 20, "latest answer");
        (, int256 second,,,) = agg.getRoundData(2);
        assertTrue(second == 10, "round 2");
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsRoundNotAvailable.selector, FEED, 4));
        agg.getRoundData(4);

        FreezerAlarm alarm = new FreezerAlarm(agg, 15, 3600);
        assertTrue(alarm.check(), "20 is above 15");
        assertTrue(alarm.alarmed(), "alarm raised");
        vm.warp(block.timestamp + 3600);
        vm.expectRevert(abi.encodeWithSelector(FreezerAlarm.FreezerAlarmStaleFeed.selector, uint256(t + 2), 3600));
        alarm.check();
    }

    function test_historyForgetsRoundsOlderThanHISTORY() public {
        _configureSole(0);
        uint256 h = feeds.HISTORY();
        uint64 t = uint64(block.timestamp - h - 10);
        for (uint64 i = 0; i <= h; i++) {
            _push(0, int256(uint256(i)), t + i);
        }
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsRoundNotAvailable.selector, FEED, 1));
        feeds.getRoundData(FEED, 1);
        (, int256 oldest,,,) = feeds.getRoundData(FEED, 2);
        assertTrue(oldest == 1, "round 2 still kept");
    }

    function test_configRejectsAQuorumAboveTheDeviceCountAndOnlyFeedAdminsConfigure() public {
        bytes32[] memory devs = new bytes32[](1);
        devs[0] = ids[0];
        vm.expectRevert(abi.encodeWithSelector(ISensorFeeds.SensorFeedsInvalidConfig.selector, FEED));
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(2, 2, 3600, 60), devs, "");
        bytes32 role = feeds.FEED_ADMIN_ROLE();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(2, 1, 3600, 60), devs, "");
    }

    function testFuzz_reconfiguringKeepsTheLatestRoundAndServesTheNewConfig(
        uint8 decimals,
        uint32 heartbeat,
        uint32 window,
        int64 value
    ) public {
        decimals = decimals % 37;
        if (window == 0) window = 1;
        _configureSole(0);
        uint64 t = uint64(block.timestamp - 10);
        _push(0, value, t);
        bytes32[] memory devs = new bytes32[](2);
        devs[0] = ids[1];
        devs[1] = ids[0];
        feeds.configureFeed(FEED, ISensorFeeds.FeedConfig(decimals, 2, heartbeat, window), devs, "renamed");
        (ISensorFeeds.FeedConfig memory c, bytes32[] memory got, string memory d) = feeds.getFeed(FEED);
        assertEq(c.decimals, decimals, "decimals");
        assertEq(c.quorum, 2, "quorum");
        assertEq(c.heartbeat, heartbeat, "heartbeat");
        assertEq(c.window, window, "window");
        assertEq(got.length, 2, "devices");
        assertEq(got[0], ids[1], "device order");
        assertTrue(keccak256(bytes(d)) == keccak256("renamed"), "description");
        (uint80 round, int256 answer, uint256 updatedAt) = _latest();
        assertEq(round, 1, "round kept");
        assertTrue(answer == value, "answer kept");
        assertEq(updatedAt, t, "time kept");
    }

    function testFuzz_medianOfThreeIsTheMiddleValue(int64 a, int64 b, int64 c) public {
        _configure(3, 60);
        uint64 t = uint64(block.timestamp - 10);
        _push(0, a, t);
        _push(1, b, t + 1);
        _push(2, c, t + 2);
        int256 lo = a < b ? (a < c ? a : c) : (b < c ? b : c);
        int256 hi = a > b ? (a > c ? a : c) : (b > c ? b : c);
        int256 mid = int256(a) + b + c - lo - hi;
        _assertAnswer(mid, "median");
    }
}
