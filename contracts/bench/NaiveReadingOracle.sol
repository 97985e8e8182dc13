// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {Readings} from "../libraries/Readings.sol";

/// @notice Benchmark baseline: one transaction per reading, its signature checked on-chain and its
/// value stored, with no batching. What sensor-oracle's batch commits are compared against.
contract NaiveReadingOracle {
    IDeviceRegistry private immutable _registry;
    mapping(bytes32 deviceId => mapping(bytes32 feedId => int256)) public latest;

    constructor(IDeviceRegistry registry_) {
        _registry = registry_;
    }

    function submit(Readings.Reading calldata r, bytes calldata signature) external {
        bytes32 digest = Readings.digest(r, _registry.domainSeparator());
        require(
            _registry.checkSignature(r.deviceId, r.timestamp, digest, signature) == IDeviceRegistry.SignatureCheck.Valid,
            "bad signature"
        );
        latest[r.deviceId][r.feedId] = r.value;
    }
}
