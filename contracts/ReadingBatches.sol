// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {IReadingBatches} from "./interfaces/IReadingBatches.sol";
import {Readings} from "./libraries/Readings.sol";

/// @title ReadingBatches
/// @notice Holds the Merkle roots of committed batches of signed readings (SUBMITTER_ROLE commits)
/// and verifies any single reading on-chain against its batch and its device's registered key.
contract ReadingBatches is IReadingBatches, AccessControl {
    /// @notice Role of bridge submitters: commit batch roots.
    bytes32 public constant SUBMITTER_ROLE = keccak256("SUBMITTER_ROLE");

    IDeviceRegistry private immutable _registry;
    // The registry's EIP-712 domain, cached: saves a cross-contract call on every verification.
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;

    // root => committedAt (bits 0-63) | count (64-95) | fromTime (96-159) | toTime (160-223): one slot per batch.
    mapping(bytes32 root => uint256) private _batches;

    /// @param registry_ the fleet's DeviceRegistry
    /// @param admin receives DEFAULT_ADMIN_ROLE (grants and revokes submitters)
    constructor(IDeviceRegistry registry_, address admin) {
        _registry = registry_;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = Readings.domainSeparator(address(registry_), block.chainid);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

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
        IDeviceRegistry.SignatureCheck check = _checkSignature(reading, signature);
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
        return _batches[root] != 0 && _checkSignature(reading, signature) == IDeviceRegistry.SignatureCheck.Valid;
    }

    /// @inheritdoc IReadingBatches
    function registry() external view returns (IDeviceRegistry) {
        return _registry;
    }

    function _checkSignature(Readings.Reading calldata reading, bytes calldata signature)
        private
        view
        returns (IDeviceRegistry.SignatureCheck)
    {
        bytes32 separator = block.chainid == _cachedChainId
            ? _cachedDomainSeparator
            : Readings.domainSeparator(address(_registry), block.chainid);
        bytes32 digest = Readings.digest(reading, separator);
        return _registry.checkSignature(reading.deviceId, reading.timestamp, digest, signature);
    }
}
