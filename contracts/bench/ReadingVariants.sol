// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {Readings} from "../libraries/Readings.sol";
import {SensorOracle} from "../SensorOracle.sol";

/// @notice Benchmark only: the hashing of contracts/libraries/Readings.sol written plainly, with
/// abi.encode and OpenZeppelin's MerkleProof, to measure what each of its assembly blocks saves.
library PlainReadings {
    function leaf(Readings.Reading calldata r) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(r.deviceId, r.feedId, r.value, r.timestamp, r.sequence))));
    }

    function structHash(Readings.Reading calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(Readings.READING_TYPEHASH, r.deviceId, r.feedId, r.value, r.timestamp, r.sequence));
    }

    function digest(bytes32 separator, bytes32 sh) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", separator, sh));
    }

    /// Readings.digest's assembly for its last step, to replace only the struct hash.
    function digestAssembly(bytes32 separator, bytes32 sh) internal pure returns (bytes32 d) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), separator)
            mstore(add(ptr, 0x22), sh)
            d := keccak256(ptr, 0x42)
        }
    }
}

/// @notice Benchmark only: SensorOracle with `verifyReadingVariant`, which is `verifyReading` with
/// chosen steps written plainly (bit flags in `plain`; 0 is verifyReading's own code). Every variant
/// goes through the same function and the same flag tests, so their differences are the steps'.
contract ReadingVariants is SensorOracle {
    uint256 public constant OZ_PROOF = 1; // MerkleProof.processProofCalldata for Readings.processProof
    uint256 public constant PLAIN_LEAF = 2; // abi.encode for Readings.leaf
    uint256 public constant PLAIN_STRUCT_HASH = 4; // abi.encode for Readings.structHash
    uint256 public constant PLAIN_DIGEST = 8; // abi.encodePacked for the 0x1901 step of Readings.digest

    constructor(address admin) SensorOracle(admin) {}

    function verifyReadingVariant(
        uint256 plain,
        Readings.Reading calldata reading,
        bytes calldata signature,
        bytes32[] calldata proof
    ) external view returns (bytes32 root) {
        bytes32 leaf = plain & PLAIN_LEAF != 0 ? PlainReadings.leaf(reading) : Readings.leaf(reading);
        root = plain & OZ_PROOF != 0
            ? MerkleProof.processProofCalldata(proof, leaf)
            : Readings.processProof(proof, leaf);
        if (!_batches[root].exists()) revert ReadingBatchesUnknownBatch(root);
        bytes32 d;
        if (plain & (PLAIN_STRUCT_HASH | PLAIN_DIGEST) == 0) {
            d = Readings.digest(reading, _domainSeparator());
        } else {
            bytes32 sh = plain & PLAIN_STRUCT_HASH != 0 ? PlainReadings.structHash(reading) : Readings.structHash(reading);
            d = plain & PLAIN_DIGEST != 0
                ? PlainReadings.digest(_domainSeparator(), sh)
                : PlainReadings.digestAssembly(_domainSeparator(), sh);
        }
        IDeviceRegistry.SignatureCheck check = _checkSignature(reading.deviceId, reading.timestamp, d, signature);
        if (check != IDeviceRegistry.SignatureCheck.Valid) {
            revert ReadingBatchesInvalidSignature(reading.deviceId, check);
        }
    }
}
