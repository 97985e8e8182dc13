// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SensorOracleStructs} from "./SensorOracleStructs.sol";

/// @title ISensorOracle
/// @notice What a pull consumer calls on a fleet's SensorOracle: verify one reading with its
/// signature and Merkle proof (served by any bridge at `GET /readings/:id`), and look up batches
/// and devices. Standalone: the implementation's ABI matches it (test/e2e/consumer-interfaces.test.ts),
/// and contracts/mocks/MockSensorOracle.sol implements it for consumers' own tests.
interface ISensorOracle {
    /// @notice Emitted when the bridge commits a batch of readings.
    event BatchCommitted(bytes32 indexed root, uint32 count, uint64 fromTime, uint64 toTime);

    /// @notice Emitted when a device is revoked; its readings dated at or after `since` no longer verify.
    event DeviceRevoked(bytes32 indexed deviceId, uint40 since);

    /// @notice The proof leads to a root that no committed batch has (wrong proof, changed reading,
    /// or a batch not committed yet).
    error ReadingBatchesUnknownBatch(bytes32 root);

    /// @notice The reading's signature is not its device's, or the device's key was not valid at
    /// the reading's time (revoked, rotated, unknown device): see `check`.
    error ReadingBatchesInvalidSignature(bytes32 deviceId, SensorOracleStructs.SignatureCheck check);

    /// @notice Verify one reading: it is in a committed batch, and signed by its device with a key
    /// valid at the reading's time. Reverts with one of the errors above when it is not.
    /// @param reading the reading as the bridge serves it
    /// @param signature the device's signature as the bridge serves it (P-256: r||s or r||s||x||y;
    /// secp256k1: r||s||v)
    /// @param proof the Merkle proof of the reading in its batch
    /// @return root the batch's Merkle root
    function verifyReading(
        SensorOracleStructs.Reading calldata reading,
        bytes calldata signature,
        bytes32[] calldata proof
    ) external view returns (bytes32 root);

    /// @notice Same as {verifyReading}, returning false instead of reverting.
    function tryVerifyReading(
        SensorOracleStructs.Reading calldata reading,
        bytes calldata signature,
        bytes32[] calldata proof
    ) external view returns (bool ok);

    /// @notice The batch committed under `root`; `committedAt` is 0 when none is.
    function getBatch(bytes32 root) external view returns (SensorOracleStructs.Batch memory);

    /// @notice A device's record; status None for an unknown id.
    function getDevice(bytes32 deviceId) external view returns (SensorOracleStructs.Device memory);

    /// @notice The EIP-712 domain separator the fleet's readings are signed under.
    function domainSeparator() external view returns (bytes32);
}
