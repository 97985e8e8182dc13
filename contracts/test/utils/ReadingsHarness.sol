// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Readings} from "../../libraries/Readings.sol";

/// The Readings library's calldata functions, callable from tests that hold readings in memory
/// (an external call turns them into calldata).
contract ReadingsHarness {
    function digest(Readings.Reading calldata r, bytes32 separator) external pure returns (bytes32) {
        return Readings.digest(r, separator);
    }

    function leaf(Readings.Reading calldata r) external pure returns (bytes32) {
        return Readings.leaf(r);
    }

    function processProof(bytes32[] calldata proof, bytes32 leaf_) external pure returns (bytes32) {
        return Readings.processProof(proof, leaf_);
    }

    /// OpenZeppelin's version of processProof, which ours must equal.
    function processProofOz(bytes32[] calldata proof, bytes32 leaf_) external pure returns (bytes32) {
        return MerkleProof.processProofCalldata(proof, leaf_);
    }
}
