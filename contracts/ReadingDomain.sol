// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Readings} from "./libraries/Readings.sol";

/// @title ReadingDomain
/// @notice The EIP-712 domain readings are signed under (docs/PROTOCOL.md): cached at deployment,
/// recomputed only on a chain whose id differs from the deployment's (a fork).
/// @dev Shared by the contracts that check reading signatures: DeviceRegistry, whose own address is
/// the verifying contract, and SensorFeeds, which checks against its registry's domain.
abstract contract ReadingDomain {
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;
    address private immutable _verifyingContract;

    /// @param verifyingContract the fleet's DeviceRegistry (the domain's verifyingContract)
    constructor(address verifyingContract) {
        _verifyingContract = verifyingContract;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = Readings.domainSeparator(verifyingContract, block.chainid);
    }

    /// @dev The domain separator on the current chain.
    function _domainSeparator() internal view returns (bytes32) {
        return block.chainid == _cachedChainId
            ? _cachedDomainSeparator
            : Readings.domainSeparator(_verifyingContract, block.chainid);
    }
}
