// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DeviceRegistry} from "./DeviceRegistry.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {IReadingBatches} from "./interfaces/IReadingBatches.sol";
import {BatchState, BatchStateLibrary} from "./libraries/BatchState.sol";
import {Readings} from "./libraries/Readings.sol";

/// @title ReadingBatches
/// @notice The batches part of SensorOracle: the Merkle roots of committed batches of signed
/// readings (SUBMITTER_ROLE commits); verifies any single reading on-chain against its batch and
/// its device's key at the reading's time.
/// @dev Built on the registry's state (DeviceRegistry), not on a call to a registry: a verification
/// then reads one account (the consumer's call warms it) instead of also paying 2,600 gas for the
/// registry's cold account and a call. `registry()` is this contract. Abstract: deployed as part
/// of {SensorOracle}.
abstract contract ReadingBatches is DeviceRegistry, IReadingBatches {
    /// @notice Role of bridge submitters: commit batch roots.
    bytes32 public constant SUBMITTER_ROLE = keccak256("SUBMITTER_ROLE");

    // One slot per batch (see BatchState); zero for a root never committed.
    mapping(bytes32 root => BatchState) internal _batches;

    /// @inheritdoc IReadingBatches
    function commitBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime)
        external
        onlyRole(SUBMITTER_ROLE)
        returns (bool committed)
    {
        if (root == bytes32(0) || count == 0 || fromTime > toTime) {
            revert ReadingBatchesInvalidBatch(root, count, fromTime, toTime);
        }
        if (_batches[root].exists()) return false;
        _batches[root] = BatchStateLibrary.committedNow(count, fromTime, toTime);
        emit BatchCommitted(root, count, fromTime, toTime);
        return true;
    }

    /// @inheritdoc IReadingBatches
    function getBatch(bytes32 root) external view returns (Batch memory) {
        return _batches[root].batch();
    }

    /// @inheritdoc IReadingBatches
    function verifyReading(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bytes32 root)
    {
        root = Readings.processProof(proof, Readings.leaf(reading));
        if (!_batches[root].exists()) revert ReadingBatchesUnknownBatch(root);
        IDeviceRegistry.SignatureCheck check = _checkReading(reading, signature);
        if (check != IDeviceRegistry.SignatureCheck.Valid) {
            revert ReadingBatchesInvalidSignature(reading.deviceId, check);
        }
    }

    /// @inheritdoc IReadingBatches
    function tryVerifyReading(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bool ok)
    {
        bytes32 root = Readings.processProof(proof, Readings.leaf(reading));
        return _batches[root].exists() && _checkReading(reading, signature) == IDeviceRegistry.SignatureCheck.Valid;
    }

    /// @inheritdoc IReadingBatches
    function registry() external view returns (IDeviceRegistry) {
        return IDeviceRegistry(address(this));
    }

    /// @dev The device signature of a reading, checked under this fleet's domain.
    function _checkReading(Readings.Reading calldata reading, bytes calldata signature)
        internal
        view
        returns (IDeviceRegistry.SignatureCheck)
    {
        return _checkSignature(
            reading.deviceId, reading.timestamp, Readings.digest(reading, _domainSeparator()), signature
        );
    }
}
