// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReadingBatches} from "../ReadingBatches.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IReadingBatches} from "../interfaces/IReadingBatches.sol";
import {Readings} from "../libraries/Readings.sol";
import {Fixture} from "./utils/Fixture.sol";

/// The batches part of SensorOracle: commits, and single readings verified against a committed
/// root and their device's key (the registry part of the same contract).
contract ReadingBatchesTest is Fixture {
    IDeviceRegistry.Curve private constant P256 = IDeviceRegistry.Curve.P256;
    ReadingBatches private batches;
    address private constant SUBMITTER = address(0xB0B);
    uint256 private constant P256_KEY = 0xBEEF;

    function setUp() public {
        _deployOracle();
        batches = oracle;
        batches.grantRole(batches.SUBMITTER_ROLE(), SUBMITTER);
    }

    function _reading(bytes32 id, uint64 timestamp, uint64 seq) private pure returns (Readings.Reading memory) {
        return Readings.Reading(id, keccak256("feed"), 42, timestamp, seq);
    }

    function test_verifiesAReadingInACommittedSingleLeafBatch() public {
        bytes32 id = _register(P256, P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 root = helper.leaf(r);
        vm.prank(SUBMITTER);
        batches.commitBatch(root, 1, r.timestamp, r.timestamp);
        bytes32[] memory proof = new bytes32[](0);
        assertEq(batches.verifyReading(r, _sign(P256, P256_KEY, r), proof), root, "root");
        assertTrue(batches.tryVerifyReading(r, _sign(P256, P256_KEY, r), proof), "try");
    }

    function test_aChangedValueFailsVerification() public {
        bytes32 id = _register(P256, P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _sign(P256, P256_KEY, r);
        bytes32 root = helper.leaf(r);
        vm.prank(SUBMITTER);
        batches.commitBatch(root, 1, r.timestamp, r.timestamp);
        r.value = 43;
        bytes32 forgedRoot = helper.leaf(r);
        vm.expectRevert(abi.encodeWithSelector(IReadingBatches.ReadingBatchesUnknownBatch.selector, forgedRoot));
        batches.verifyReading(r, sig, new bytes32[](0));
        // Even with the tampered reading's root committed, the device signature does not match.
        vm.prank(SUBMITTER);
        batches.commitBatch(forgedRoot, 1, r.timestamp, r.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(
                IReadingBatches.ReadingBatchesInvalidSignature.selector, id, IDeviceRegistry.SignatureCheck.BadSignature
            )
        );
        batches.verifyReading(r, sig, new bytes32[](0));
        assertTrue(!batches.tryVerifyReading(r, sig, new bytes32[](0)), "try is false");
    }

    function test_commitIsIdempotentPerRoot() public {
        vm.prank(SUBMITTER);
        assertTrue(batches.commitBatch(keccak256("root"), 3, 10, 20), "first commit");
        vm.prank(SUBMITTER);
        assertTrue(!batches.commitBatch(keccak256("root"), 3, 10, 20), "second is a no-op");
        assertEq(batches.getBatch(keccak256("root")).count, 3, "count kept");
    }

    function test_onlySubmittersCommit() public {
        bytes32 role = batches.SUBMITTER_ROLE();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        batches.commitBatch(keccak256("root"), 1, 1, 1);
    }

    function test_rejectsAnInconsistentBatch() public {
        vm.prank(SUBMITTER);
        vm.expectRevert(
            abi.encodeWithSelector(IReadingBatches.ReadingBatchesInvalidBatch.selector, keccak256("r"), 1, 20, 10)
        );
        batches.commitBatch(keccak256("r"), 1, 20, 10);
    }
}
