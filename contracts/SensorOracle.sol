// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DeviceRegistry} from "./DeviceRegistry.sol";
import {ReadingBatches} from "./ReadingBatches.sol";

/// @title SensorOracle
/// @notice The fleet's one deployed contract: its device registry ({DeviceRegistry}: device keys,
/// operators, signature checks) and its committed batches of signed readings ({ReadingBatches}:
/// batch roots, single-reading verification). Feeds ({SensorFeeds}) are a separate contract that
/// takes this one as its registry.
/// @dev One contract, so that verifying a reading reads one account; `registry()` is this address,
/// and it is the verifying contract of the readings' EIP-712 domain.
contract SensorOracle is DeviceRegistry, ReadingBatches {
    /// @param admin receives DEFAULT_ADMIN_ROLE (grants operators and submitters, pauses)
    constructor(address admin) DeviceRegistry(admin) {}
}
