// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Readings} from "../libraries/Readings.sol";
import {IDeviceRegistry} from "./IDeviceRegistry.sol";

/// @title IReadingBatches
/// @notice Merkle roots of batches of signed readings, and on-chain verification of any one reading.
interface IReadingBatches {
    /// @notice A committed batch. A batch is identified by its Merkle root.
    struct Batch {
        uint64 committedAt;
        uint32 count;
        uint64 fromTime;
        uint64 toTime;
    }

    /// @notice Emitted when a batch is committed.
    event BatchCommitted(bytes32 indexed root, uint32 count, uint64 fromTime, uint64 toTime);

    /// @notice The root is zero or the metadata is inconsistent.
    error ReadingBatchesInvalidBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime);
    /// @notice The proof leads to a root that no committed batch has.
    error ReadingBatchesUnknownBatch(bytes32 root);
    /// @notice The reading's signature does not verify against the registry (see the check's value).
    error ReadingBatchesInvalidSignature(bytes32 deviceId, IDeviceRegistry.SignatureCheck check);

    /// @notice Commit a batch root. Committing a root that is already committed is a no-op and returns false.
    function commitBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime) external returns (bool committed);

    /// @notice The batch committed under `root`; committedAt is 0 when none is.
    function getBatch(bytes32 root) external view returns (Batch memory);

    /// @notice Verify one reading: in a committed batch, signed by its device with a key valid at its time.
    /// Reverts with the reason when it does not verify.
    function verifyReading(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bytes32 root);

    /// @notice Same as {verifyReading}, returning false instead of reverting.
    function tryVerifyReading(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bool ok);

    /// @notice The registry this contract checks devices against.
    function registry() external view returns (IDeviceRegistry);
}
