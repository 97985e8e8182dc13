// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DeviceRegistry} from "./DeviceRegistry.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {IReadingBatches} from "./interfaces/IReadingBatches.sol";
import {Readings} from "./libraries/Readings.sol";

/// @title ReadingBatches
/// @notice The fleet's contract: its device registry (DeviceRegistry, inherited) and the Merkle
/// roots of committed batches of signed readings (SUBMITTER_ROLE commits); verifies any single
/// reading on-chain against its batch and its device's key at the reading's time.
/// @dev One contract, not a batches contract calling a registry: a verification then reads one
/// account (the consumer's call warms it) instead of also paying 2,600 gas for the registry's cold
/// account and a call. `registry()` is this contract.
contract ReadingBatches is DeviceRegistry, IReadingBatches {
    /// @notice Role of bridge submitters: commit batch roots.
    bytes32 public constant SUBMITTER_ROLE = keccak256("SUBMITTER_ROLE");

    // root => committedAt (bits 0-63) | count (64-95) | fromTime (96-159) | toTime (160-223): one slot per batch.
    mapping(bytes32 root => uint256) private _batches;

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants operators and submitters, pauses)
    constructor(address admin) DeviceRegistry(admin) {}

    /// @inheritdoc IReadingBatches
    function commitBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime)
        external
        onlyRole(SUBMITTER_ROLE)
        returns (bool committed)
    {
        if (root == bytes32(0) || count == 0 || fromTime > toTime) {
            revert ReadingBatchesInvalidBatch(root, count, fromTime, toTime);
        }
        if (_batches[root] != 0) return false;
        _batches[root] = uint256(uint64(block.timestamp)) | (uint256(count) << 64) | (uint256(fromTime) << 96)
            | (uint256(toTime) << 160);
        emit BatchCommitted(root, count, fromTime, toTime);
        return true;
    }

    /// @inheritdoc IReadingBatches
    function getBatch(bytes32 root) external view returns (Batch memory) {
        uint256 packed = _batches[root];
        return Batch({
            committedAt: uint64(packed),
            count: uint32(packed >> 64),
            fromTime: uint64(packed >> 96),
            toTime: uint64(packed >> 160)
        });
    }

    /// @inheritdoc IReadingBatches
    function verifyReading(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bytes32 root)
    {
        root = Readings.processProof(proof, Readings.leaf(reading));
        if (_batches[root] == 0) revert ReadingBatchesUnknownBatch(root);
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
        return _batches[root] != 0 && _checkReading(reading, signature) == IDeviceRegistry.SignatureCheck.Valid;
    }

    /// @inheritdoc IReadingBatches
    function registry() external view returns (IDeviceRegistry) {
        return IDeviceRegistry(address(this));
    }

    function _checkReading(Readings.Reading calldata reading, bytes calldata signature)
        private
        view
        returns (IDeviceRegistry.SignatureCheck)
    {
        return _checkSignature(
            reading.deviceId, reading.timestamp, Readings.digest(reading, domainSeparator()), signature
        );
    }
}
