// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ISensorOracle} from "../interfaces/ISensorOracle.sol";
import {SensorOracleStructs} from "../interfaces/SensorOracleStructs.sol";

/// @title MockSensorOracle
/// @notice A SensorOracle for consumers' own tests, in the manner of Pyth's MockPyth: batches are
/// committed by anyone, and each device's signature verdict is whatever the test sets (Valid by
/// default); the signature bytes are not checked. Leaves and proofs are the real ones
/// (OpenZeppelin's standard Merkle tree of the reading's fields), so a proof a bridge serves, or a
/// one-reading batch from {commitReading} with an empty proof, verifies as on the real contract, and
/// failures revert with the real contract's errors. Never deploy it where value is at stake.
contract MockSensorOracle is ISensorOracle {
    mapping(bytes32 root => SensorOracleStructs.Batch) private _batches;
    mapping(bytes32 deviceId => SensorOracleStructs.SignatureCheck) private _checks;
    mapping(bytes32 deviceId => SensorOracleStructs.Device) private _devices;

    /// @notice Commit a batch root, as the bridge does on the real contract (here: anyone may).
    function commitBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime) public {
        _batches[root] = SensorOracleStructs.Batch(uint64(block.timestamp), count, fromTime, toTime);
        emit BatchCommitted(root, count, fromTime, toTime);
    }

    /// @notice Commit a batch holding only `reading`: it then verifies with an empty proof.
    /// @return root the batch's root (the reading's leaf)
    function commitReading(SensorOracleStructs.Reading calldata reading) external returns (bytes32 root) {
        root = leafOf(reading);
        commitBatch(root, 1, reading.timestamp, reading.timestamp);
    }

    /// @notice Make every signature of `deviceId` get this verdict (Valid restores the default).
    function setSignatureCheck(bytes32 deviceId, SensorOracleStructs.SignatureCheck check) external {
        _checks[deviceId] = check;
    }

    /// @notice Set what {getDevice} returns for `deviceId`.
    function setDevice(bytes32 deviceId, SensorOracleStructs.Device calldata device) external {
        _devices[deviceId] = device;
        if (device.status == SensorOracleStructs.Status.Revoked) emit DeviceRevoked(deviceId, device.revokedAt);
    }

    /// @notice The Merkle leaf of a reading: keccak256(keccak256(abi.encode(fields))), as the
    /// bridge's tree and the real contract compute it.
    function leafOf(SensorOracleStructs.Reading calldata reading) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(reading))));
    }

    /// @inheritdoc ISensorOracle
    function verifyReading(
        SensorOracleStructs.Reading calldata reading,
        bytes calldata,
        bytes32[] calldata proof
    ) external view returns (bytes32 root) {
        root = MerkleProof.processProofCalldata(proof, leafOf(reading));
        if (_batches[root].committedAt == 0) revert ReadingBatchesUnknownBatch(root);
        SensorOracleStructs.SignatureCheck check = _checks[reading.deviceId];
        if (check != SensorOracleStructs.SignatureCheck.Valid) {
            revert ReadingBatchesInvalidSignature(reading.deviceId, check);
        }
    }

    /// @inheritdoc ISensorOracle
    function tryVerifyReading(
        SensorOracleStructs.Reading calldata reading,
        bytes calldata,
        bytes32[] calldata proof
    ) external view returns (bool ok) {
        bytes32 root = MerkleProof.processProofCalldata(proof, leafOf(reading));
        return _batches[root].committedAt != 0
            && _checks[reading.deviceId] == SensorOracleStructs.SignatureCheck.Valid;
    }

    /// @inheritdoc ISensorOracle
    function getBatch(bytes32 root) external view returns (SensorOracleStructs.Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc ISensorOracle
    function getDevice(bytes32 deviceId) external view returns (SensorOracleStructs.Device memory) {
        return _devices[deviceId];
    }

    /// @inheritdoc ISensorOracle
    /// @dev The real domain (name "SensorOracle", version "1") with this mock as verifying contract.
    function domainSeparator() external view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("SensorOracle"),
                keccak256("1"),
                block.chainid,
                address(this)
            )
        );
    }
}
