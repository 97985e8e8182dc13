// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Measures the execution gas of one call: the target's account is warmed first (as a
/// transaction's `to` is), the call data is in memory before the count starts, and the return data
/// is not copied, so the figure is what the target's code spends and nothing of the probe's own.
contract GasProbe {
    function measure(address target, bytes calldata data) external returns (uint256 gasUsed, bool ok) {
        uint256 size;
        assembly {
            size := extcodesize(target) // warms the account only
        }
        require(size > 0, "no code");
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, data.offset, data.length)
            mstore(0x40, add(ptr, data.length))
            let before := gas()
            ok := staticcall(gas(), target, ptr, data.length, 0, 0)
            let after := gas()
            // `before - after` includes the STATICCALL to a warm account (100) and the two GAS
            // opcodes' arguments (a few gas): both left in, as a caller pays them.
            gasUsed := sub(before, after)
        }
    }
}
