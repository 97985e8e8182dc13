// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {Readings} from "../libraries/Readings.sol";
import {CheatsTest} from "./utils/Cheats.sol";
import {ReadingsHarness} from "./utils/ReadingsHarness.sol";
import {Vectors} from "./utils/Vectors.sol";

/// The vectors of docs/vectors.json, recomputed by the contracts' own code.
contract ProtocolVectorsTest is CheatsTest {
    ReadingsHarness private h = new ReadingsHarness();

    function test_digestsMatchVectors() public view {
        bytes32 sep = Readings.domainSeparator(Vectors.REGISTRY, Vectors.CHAIN_ID);
        for (uint256 i = 0; i < Vectors.COUNT; i++) {
            Vectors.Vector memory v = Vectors.get(i);
            assertEq(h.digest(v.reading, sep), v.digest, "digest");
        }
    }

    function test_leavesAndRootMatchVectors() public view {
        for (uint256 i = 0; i < Vectors.COUNT; i++) {
            Vectors.Vector memory v = Vectors.get(i);
            assertEq(h.leaf(v.reading), v.leaf, "leaf");
            assertEq(MerkleProof.processProof(v.proof, v.leaf), Vectors.ROOT, "root");
        }
    }

    function test_signaturesVerifyForTheirCurve() public view {
        for (uint256 i = 0; i < Vectors.COUNT; i++) {
            Vectors.Vector memory v = Vectors.get(i);
            bytes memory sig = v.chainSignature;
            bytes32 r;
            bytes32 s;
            assembly {
                r := mload(add(sig, 0x20))
                s := mload(add(sig, 0x40))
            }
            if (v.curve == 2) {
                assertEq(sig.length, 128, "p256 length: r||s||x||y");
                bytes32 kx;
                bytes32 ky;
                assembly {
                    kx := mload(add(sig, 0x60))
                    ky := mload(add(sig, 0x80))
                }
                assertTrue(kx == v.x && ky == v.y, "p256 on-chain form carries the device's key");
                assertTrue(P256.verify(sha256(abi.encodePacked(v.digest)), r, s, v.x, v.y), "p256 verifies");
                assertTrue(!P256.verify(v.digest, r, s, v.x, v.y), "p256 is over sha256(digest), not digest");
            } else {
                assertEq(sig.length, 65, "secp256k1 length");
                address expected = address(uint160(uint256(keccak256(abi.encode(v.x, v.y)))));
                assertTrue(ECDSA.recover(v.digest, sig) == expected, "secp256k1 recovers the device address");
            }
        }
    }
}

contract ProcessProofTest {
    ReadingsHarness private h = new ReadingsHarness();

    function testFuzz_matchesOpenZeppelinMerkleProof(bytes32 leaf, bytes32[] calldata proof) public view {
        require(h.processProof(proof, leaf) == h.processProofOz(proof, leaf), "same root as OpenZeppelin");
    }
}
