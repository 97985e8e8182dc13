// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISensorFeeds} from "../interfaces/ISensorFeeds.sol";

/// @notice A feed's state in one storage word, read and written whole (one SLOAD and one SSTORE per
/// update; Solidity's packed structs read and write each member separately). Layout, low bits
/// first: decimals (8), quorum (8), heartbeat (32), window (32), deviceCount (8; 0 until the feed is
/// configured), latestRound (80), latestAt (64; updatedAt of the latest round).
type FeedState is uint256;

using FeedStateLibrary for FeedState global;

/// @title FeedStateLibrary
/// @notice Accessors of {FeedState}, in the manner of Uniswap v4's Slot0.
library FeedStateLibrary {
    uint256 private constant MASK_8 = 0xff;
    uint256 private constant MASK_32 = 0xffffffff;
    uint256 private constant MASK_64 = 0xffffffffffffffff;
    uint256 private constant MASK_80 = 0xffffffffffffffffffff;
    uint256 private constant QUORUM_OFFSET = 8;
    uint256 private constant HEARTBEAT_OFFSET = 16;
    uint256 private constant WINDOW_OFFSET = 48;
    uint256 private constant DEVICE_COUNT_OFFSET = 80;
    uint256 private constant LATEST_ROUND_OFFSET = 88;
    uint256 private constant LATEST_AT_OFFSET = 168;

    function decimals(FeedState s) internal pure returns (uint8) {
        return uint8(FeedState.unwrap(s) & MASK_8);
    }

    function quorum(FeedState s) internal pure returns (uint8) {
        return uint8((FeedState.unwrap(s) >> QUORUM_OFFSET) & MASK_8);
    }

    function heartbeat(FeedState s) internal pure returns (uint32) {
        return uint32((FeedState.unwrap(s) >> HEARTBEAT_OFFSET) & MASK_32);
    }

    function window(FeedState s) internal pure returns (uint32) {
        return uint32((FeedState.unwrap(s) >> WINDOW_OFFSET) & MASK_32);
    }

    function deviceCount(FeedState s) internal pure returns (uint8) {
        return uint8((FeedState.unwrap(s) >> DEVICE_COUNT_OFFSET) & MASK_8);
    }

    function latestRound(FeedState s) internal pure returns (uint80) {
        return uint80((FeedState.unwrap(s) >> LATEST_ROUND_OFFSET) & MASK_80);
    }

    function latestAt(FeedState s) internal pure returns (uint64) {
        return uint64((FeedState.unwrap(s) >> LATEST_AT_OFFSET) & MASK_64);
    }

    function config(FeedState s) internal pure returns (ISensorFeeds.FeedConfig memory) {
        return ISensorFeeds.FeedConfig({
            decimals: decimals(s),
            quorum: quorum(s),
            heartbeat: heartbeat(s),
            window: window(s)
        });
    }

    /// @notice The state with a new configuration and device count, keeping the latest round.
    function withConfig(FeedState s, ISensorFeeds.FeedConfig memory c, uint8 count) internal pure returns (FeedState) {
        uint256 kept = FeedState.unwrap(s) & ~((uint256(1) << LATEST_ROUND_OFFSET) - 1);
        return FeedState.wrap(
            kept | uint256(c.decimals) | (uint256(c.quorum) << QUORUM_OFFSET)
                | (uint256(c.heartbeat) << HEARTBEAT_OFFSET) | (uint256(c.window) << WINDOW_OFFSET)
                | (uint256(count) << DEVICE_COUNT_OFFSET)
        );
    }

    /// @notice The state with a new latest round, keeping the configuration.
    function withLatest(FeedState s, uint80 round, uint64 at) internal pure returns (FeedState) {
        uint256 kept = FeedState.unwrap(s) & ((uint256(1) << LATEST_ROUND_OFFSET) - 1);
        return FeedState.wrap(kept | (uint256(round) << LATEST_ROUND_OFFSET) | (uint256(at) << LATEST_AT_OFFSET));
    }
}
