// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ColdRoomGate} from "../../examples/ColdRoomGate.sol";
import {ISensorFeedsReader} from "../../interfaces/ISensorFeedsReader.sol";
import {MockSensorFeed} from "../../mocks/MockSensorFeed.sol";
import {MockSensorFeeds} from "../../mocks/MockSensorFeeds.sol";
import {CheatsTest} from "../utils/Cheats.sol";

/// The consumer kit's feed mocks: rounds the test sets, and the real contracts' reverts.
contract MockSensorFeedTest is CheatsTest {
    bytes32 private constant FEED = keccak256("cold-room-7/temperature");
    MockSensorFeed private feed;
    MockSensorFeeds private feeds;

    function setUp() public {
        vm.warp(1_750_000_000);
        feed = new MockSensorFeed(2, "cold-room-7/temperature");
        feeds = new MockSensorFeeds();
    }

    function test_aggregatorServesTheRoundsTheTestSets() public {
        assertEq(feed.feedId(), FEED, "feed id");
        assertEq(feed.decimals(), 2, "decimals");
        feed.setRound(-1800, 1_749_999_000);
        uint80 second = feed.setAnswer(-1750);
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredInRound) = feed.latestRoundData();
        assertEq(roundId, second, "round");
        assertTrue(answer == -1750, "answer");
        assertEq(updatedAt, 1_750_000_000, "now");
        assertEq(answeredInRound, roundId, "answered");
        (, answer,, updatedAt,) = feed.getRoundData(1);
        assertTrue(answer == -1800, "first answer");
        assertEq(updatedAt, 1_749_999_000, "first time");
    }

    function test_aggregatorRevertsAsTheRealOneBeforeAValueAndForAnUnknownRound() public {
        vm.expectRevert(abi.encodeWithSelector(ISensorFeedsReader.SensorFeedsNoValue.selector, FEED));
        feed.latestRoundData();
        feed.setAnswer(1);
        vm.expectRevert(abi.encodeWithSelector(ISensorFeedsReader.SensorFeedsRoundNotAvailable.selector, FEED, uint80(2)));
        feed.getRoundData(2);
    }

    function test_feedsRefuseAStaleValueAnUnknownFeedAndAMissingValue() public {
        vm.expectRevert(abi.encodeWithSelector(ISensorFeedsReader.SensorFeedsUnknownFeed.selector, FEED));
        feeds.setValue(FEED, 1, block.timestamp);
        feeds.setFeed(FEED, 2, "cold-room-7/temperature");
        vm.expectRevert(abi.encodeWithSelector(ISensorFeedsReader.SensorFeedsNoValue.selector, FEED));
        feeds.getValueUnsafe(FEED);
        feeds.setValue(FEED, -1700, block.timestamp - 100);
        (int256 value,) = feeds.getValueNoOlderThan(FEED, 100);
        assertTrue(value == -1700, "fresh");
        vm.expectRevert(
            abi.encodeWithSelector(ISensorFeedsReader.SensorFeedsStaleValue.selector, FEED, block.timestamp - 100, 99)
        );
        feeds.getValueNoOlderThan(FEED, 99);
        (uint80 roundId,,,,) = feeds.latestRoundData(FEED);
        assertEq(roundId, 1, "round");
        (, , string memory description) = feeds.getFeed(FEED);
        assertEq(keccak256(bytes(description)), FEED, "description");
    }

    function test_theColdRoomGateExampleReleasesOnlyOnAFreshColdValue() public {
        ColdRoomGate gate = new ColdRoomGate(feed, -1500, 600);
        feed.setRound(-1800, block.timestamp - 601);
        vm.expectRevert(
            abi.encodeWithSelector(ColdRoomGate.ColdRoomGateStaleFeed.selector, block.timestamp - 601, 600, block.timestamp)
        );
        gate.release();
        feed.setAnswer(-1200);
        vm.expectRevert(abi.encodeWithSelector(ColdRoomGate.ColdRoomGateTooWarm.selector, int256(-1200), int256(-1500)));
        gate.release();
        feed.setAnswer(-1800);
        assertTrue(gate.release() == -1800, "released");
        assertEq(gate.releases(), 1, "count");
    }
}
