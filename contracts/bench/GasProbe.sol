// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Benchmark helper: the execution gas of one call, with the target's account already warm
/// (as it is for a transaction sent to it) and its storage cold.
contract GasProbe {
    function measure(address target, bytes calldata data) external returns (uint256 gasUsed, bool ok) {
        uint256 size;
        assembly {
            size := extcodesize(target) // warms the account only
        }
        require(size > 0, "no code");
        uint256 before = gasleft();
        (ok,) = target.staticcall(data);
        gasUsed = before - gasleft();
    }
}
