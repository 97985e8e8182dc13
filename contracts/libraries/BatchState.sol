// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IReadingBatches} from "../interfaces/IReadingBatches.sol";

/// @notice A committed batch in one storage word (one SLOAD to check a root, one SSTORE to commit
/// one). Layout, low bits first: committedAt (64), count (32), fromTime (64), toTime (64). Zero for
/// a root never committed (committedAt is a block timestamp, never zero).
type BatchState is uint256;

using BatchStateLibrary for BatchState global;

/// @title BatchStateLibrary
/// @notice Accessors of {BatchState}, in the manner of {FeedStateLibrary}.
library BatchStateLibrary {
    uint256 private constant MASK_32 = 0xffffffff;
    uint256 private constant MASK_64 = 0xffffffffffffffff;
    uint256 private constant COUNT_OFFSET = 64;
    uint256 private constant FROM_TIME_OFFSET = 96;
    uint256 private constant TO_TIME_OFFSET = 160;

    /// @notice A batch of `n` readings dated `from` to `to`, committed now (this block's timestamp).
    /// @dev Three arguments, not four with the timestamp: the optimizer then inlines it (a
    /// four-argument call stays a jump, 42 gas more per commit).
    function committedNow(uint32 n, uint64 from, uint64 to) internal view returns (BatchState) {
        return BatchState.wrap(
            uint256(uint64(block.timestamp)) | (uint256(n) << COUNT_OFFSET) | (uint256(from) << FROM_TIME_OFFSET)
                | (uint256(to) << TO_TIME_OFFSET)
        );
    }

    /// @notice Whether a batch is there (its root was committed).
    function exists(BatchState s) internal pure returns (bool) {
        return BatchState.unwrap(s) != 0;
    }

    function committedAt(BatchState s) internal pure returns (uint64) {
        return uint64(BatchState.unwrap(s) & MASK_64);
    }

    function count(BatchState s) internal pure returns (uint32) {
        return uint32((BatchState.unwrap(s) >> COUNT_OFFSET) & MASK_32);
    }

    function fromTime(BatchState s) internal pure returns (uint64) {
        return uint64((BatchState.unwrap(s) >> FROM_TIME_OFFSET) & MASK_64);
    }

    function toTime(BatchState s) internal pure returns (uint64) {
        return uint64((BatchState.unwrap(s) >> TO_TIME_OFFSET) & MASK_64);
    }

    function batch(BatchState s) internal pure returns (IReadingBatches.Batch memory) {
        return IReadingBatches.Batch({
            committedAt: committedAt(s),
            count: count(s),
            fromTime: fromTime(s),
            toTime: toTime(s)
        });
    }
}
