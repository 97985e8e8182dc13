// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Readings
/// @notice The signed Reading of sensor-oracle (docs/PROTOCOL.md): its EIP-712 digest, the domain
/// a deployment signs under, and the Merkle leaf a batch commits.
library Readings {
    /// @notice One sensor reading as a device signs it.
    /// @param deviceId the device's id (docs/PROTOCOL.md, "Device id")
    /// @param feedId what is measured, e.g. keccak256("cold-room-7/temperature")
    /// @param value the measured value, scaled by the feed's decimals
    /// @param timestamp seconds since the Unix epoch at which the device took the reading
    /// @param sequence the device's monotonic counter, strictly increasing per device
    struct Reading {
        bytes32 deviceId;
        bytes32 feedId;
        int256 value;
        uint64 timestamp;
        uint64 sequence;
    }

    bytes32 internal constant READING_TYPEHASH =
        keccak256("Reading(bytes32 deviceId,bytes32 feedId,int256 value,uint64 timestamp,uint64 sequence)");

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    bytes32 internal constant NAME_HASH = keccak256("SensorOracle");
    bytes32 internal constant VERSION_HASH = keccak256("1");

    /// @notice The EIP-712 domain separator of a deployment: its DeviceRegistry is the verifying contract.
    function domainSeparator(address registry, uint256 chainId) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, registry));
    }

    /// @notice The EIP-712 struct hash of a reading (assembly: about 540 gas less than
    /// abi.encode of the fields, docs/BENCHMARKS.md).
    function structHash(Reading calldata r) internal pure returns (bytes32 h) {
        // The five fields are five static words in calldata, encoded exactly as abi.encode would
        // (the ABI decoder of the caller has already rejected dirty uint64 words where it read them).
        bytes32 typeHash = READING_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), r, 0xa0)
            h := keccak256(ptr, 0xc0)
        }
    }

    /// @notice The 32-byte digest a device signs: keccak256(0x1901 || domainSeparator || structHash)
    /// (assembly: about 140 gas less than abi.encodePacked, and 13 less than calling OpenZeppelin's
    /// MessageHashUtils.toTypedDataHash, the same code behind a jump; docs/BENCHMARKS.md).
    function digest(Reading calldata r, bytes32 separator) internal pure returns (bytes32 d) {
        bytes32 sh = structHash(r);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), separator)
            mstore(add(ptr, 0x22), sh)
            d := keccak256(ptr, 0x42)
        }
    }

    /// @notice The root a proof leads to from a leaf, hashing sorted pairs (OpenZeppelin's
    /// MerkleProof.processProofCalldata, in assembly: about 75 gas less per level, docs/BENCHMARKS.md).
    function processProof(bytes32[] calldata proof, bytes32 leaf_) internal pure returns (bytes32 computed) {
        assembly ("memory-safe") {
            computed := leaf_
            let end := add(proof.offset, shl(5, proof.length))
            for { let p := proof.offset } lt(p, end) { p := add(p, 0x20) } {
                let sibling := calldataload(p)
                // Sorted pair: the smaller word first, without a branch.
                let siblingFirst := lt(sibling, computed)
                mstore(shl(5, siblingFirst), computed)
                mstore(shl(5, iszero(siblingFirst)), sibling)
                computed := keccak256(0x00, 0x40)
            }
        }
    }

    /// @notice The Merkle leaf of a reading, in OpenZeppelin's standard tree format with leaf
    /// types (bytes32,bytes32,int256,uint64,uint64): keccak256(keccak256(abi.encode(fields)))
    /// (assembly: about 545 gas less than that expression, docs/BENCHMARKS.md).
    function leaf(Reading calldata r) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, r, 0xa0)
            mstore(0x00, keccak256(ptr, 0xa0))
            h := keccak256(0x00, 0x20)
        }
    }
}
