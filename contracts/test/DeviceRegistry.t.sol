// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {DeviceRegistry} from "../DeviceRegistry.sol";
import {ReadingBatches} from "../ReadingBatches.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IReadingBatches} from "../interfaces/IReadingBatches.sol";
import {Readings} from "../libraries/Readings.sol";
import {CheatsTest} from "./Cheats.sol";

contract ReadingsDigest {
    function digest(Readings.Reading calldata r, bytes32 separator) external pure returns (bytes32) {
        return Readings.digest(r, separator);
    }

    function leaf(Readings.Reading calldata r) external pure returns (bytes32) {
        return Readings.leaf(r);
    }
}

contract DeviceRegistryTest is CheatsTest {
    DeviceRegistry private registry;
    ReadingBatches private batches;
    ReadingsDigest private helper = new ReadingsDigest();
    address private constant OPERATOR = address(0xA11CE);
    address private constant SUBMITTER = address(0xB0B);
    address private constant STRANGER = address(0xBAD);
    uint256 private constant K1_KEY = 0xC0FFEE;
    uint256 private constant P256_KEY = 0xBEEF;
    uint256 private constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    uint256 private constant K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public {
        vm.warp(1_800_000_000);
        // The deployed shape: ReadingBatches is the fleet's registry too.
        batches = new ReadingBatches(address(this));
        registry = batches;
        registry.grantRole(registry.OPERATOR_ROLE(), OPERATOR);
        batches.grantRole(batches.SUBMITTER_ROLE(), SUBMITTER);
    }

    // --- helpers -------------------------------------------------------------------------

    /// The public key of K1_KEY (0xC0FFEE), computed with noble-curves; there is no cheatcode for
    /// it. Checked against vm.addr so a wrong constant fails the test instead of passing it.
    function _secp256k1PublicKey() private pure returns (bytes32 x, bytes32 y) {
        x = 0x2a5bbcb0eede528e6abe5f2ec50ad7887eb5677af383a460b05ee23bf892dfe5;
        y = 0x52c93747550eda8404c8b473786c00dfd8fd1ef4bc033f359ccf5b77bd656d21;
        require(address(uint160(uint256(keccak256(abi.encode(x, y))))) == vm.addr(K1_KEY), "K1 public key constant");
    }

    function _registerP256() private returns (bytes32 id, bytes32 x, bytes32 y) {
        (uint256 px, uint256 py) = vm.publicKeyP256(P256_KEY);
        x = bytes32(px);
        y = bytes32(py);
        id = registry.deviceIdOf(IDeviceRegistry.Curve.P256, x, y);
        vm.prank(OPERATOR);
        registry.register(id, IDeviceRegistry.Curve.P256, x, y, keccak256("cert"), 1_700_000_000);
    }

    /// A low-S P-256 signature over `d` by a key that is not the device's, with that key appended.
    function _signedWithAnotherKey(bytes32 d) private view returns (bytes memory) {
        uint256 otherKey = 0xD00D;
        (uint256 ox, uint256 oy) = vm.publicKeyP256(otherKey);
        (bytes32 rr, bytes32 s) = vm.signP256(otherKey, sha256(abi.encodePacked(d)));
        if (uint256(s) > P256_N / 2) s = bytes32(P256_N - uint256(s));
        return abi.encodePacked(rr, s, ox, oy);
    }

    function _reading(bytes32 id, uint64 timestamp, uint64 seq) private pure returns (Readings.Reading memory) {
        return Readings.Reading(id, keccak256("feed"), 42, timestamp, seq);
    }

    function _signP256(Readings.Reading memory r) private view returns (bytes memory) {
        bytes32 d = helper.digest(r, registry.domainSeparator());
        (bytes32 rr, bytes32 s) = vm.signP256(P256_KEY, sha256(abi.encodePacked(d)));
        if (uint256(s) > P256_N / 2) s = bytes32(P256_N - uint256(s));
        return abi.encodePacked(rr, s);
    }

    // --- registry ------------------------------------------------------------------------

    function test_registersAP256DeviceAndVerifiesItsSignature() public {
        (bytes32 id,,) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, _signP256(r)) == IDeviceRegistry.SignatureCheck.Valid,
            "valid"
        );
    }

    function test_aP256SignatureMayCarryItsKeyWhichMustBeTheDevices() public {
        (bytes32 id, bytes32 x, bytes32 y) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        bytes memory sig = _signP256(r);
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, abi.encodePacked(sig, x, y))
                == IDeviceRegistry.SignatureCheck.Valid,
            "r||s||x||y with the device's key"
        );
        // Another key that really signed this digest: a good signature, but not by the device's key.
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, _signedWithAnotherKey(d))
                == IDeviceRegistry.SignatureCheck.BadSignature,
            "another key refused"
        );
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, abi.encodePacked(sig, x, bytes32(uint256(y) ^ 1)))
                == IDeviceRegistry.SignatureCheck.BadSignature,
            "a changed key refused"
        );
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, abi.encodePacked(sig, x))
                == IDeviceRegistry.SignatureCheck.BadSignature,
            "96 bytes is neither form"
        );
    }

    function test_rejectsAHighSP256Signature() public {
        (bytes32 id,,) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _signP256(r);
        bytes32 rr;
        bytes32 s;
        assembly {
            rr := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
        }
        bytes memory high = abi.encodePacked(rr, bytes32(P256_N - uint256(s)));
        bytes32 d = helper.digest(r, registry.domainSeparator());
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, high) == IDeviceRegistry.SignatureCheck.BadSignature,
            "high-S refused"
        );
    }

    function test_registersASecp256k1DeviceAndVerifiesItsSignature() public {
        // The device id binds the curve: a secp256k1 record is checked with ecrecover against the
        // address of its x,y. vm.addr gives the address; the registry derives the same from x,y.
        (bytes32 x, bytes32 y) = _secp256k1PublicKey();
        bytes32 id = registry.deviceIdOf(IDeviceRegistry.Curve.Secp256k1, x, y);
        vm.prank(OPERATOR);
        registry.register(id, IDeviceRegistry.Curve.Secp256k1, x, y, bytes32(0), 1_700_000_000);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 7);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(K1_KEY, d);
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, abi.encodePacked(rr, s, v))
                == IDeviceRegistry.SignatureCheck.Valid,
            "valid"
        );
        // The same signature without its recovery byte is not the on-chain form.
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, abi.encodePacked(rr, s))
                == IDeviceRegistry.SignatureCheck.BadSignature,
            "64-byte secp256k1 refused"
        );
        // High-S (malleated) form refused.
        bytes memory high = abi.encodePacked(rr, bytes32(K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        assertTrue(
            registry.checkSignature(id, r.timestamp, d, high) == IDeviceRegistry.SignatureCheck.BadSignature,
            "high-S refused"
        );
    }

    function test_rejectsADeviceIdNotDerivedFromTheKey() public {
        (uint256 px, uint256 py) = vm.publicKeyP256(P256_KEY);
        bytes32 wrong = keccak256("squatted");
        bytes32 expected = registry.deviceIdOf(IDeviceRegistry.Curve.P256, bytes32(px), bytes32(py));
        vm.prank(OPERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryDeviceIdMismatch.selector, wrong, expected)
        );
        registry.register(wrong, IDeviceRegistry.Curve.P256, bytes32(px), bytes32(py), bytes32(0), 0);
    }

    function test_rejectsAPointOffTheCurve() public {
        bytes32 x = bytes32(uint256(1));
        bytes32 y = bytes32(uint256(2));
        bytes32 id = registry.deviceIdOf(IDeviceRegistry.Curve.Secp256k1, x, y);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryInvalidPublicKey.selector, x, y));
        registry.register(id, IDeviceRegistry.Curve.Secp256k1, x, y, bytes32(0), 0);
    }

    function test_onlyOperatorsRegisterAndRevoke() public {
        (uint256 px, uint256 py) = vm.publicKeyP256(P256_KEY);
        bytes32 id = registry.deviceIdOf(IDeviceRegistry.Curve.P256, bytes32(px), bytes32(py));
        bytes32 role = registry.OPERATOR_ROLE();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        registry.register(id, IDeviceRegistry.Curve.P256, bytes32(px), bytes32(py), bytes32(0), 0);
        _registerP256();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        registry.revoke(id, uint40(block.timestamp));
    }

    function test_revocationSinceAPastTimeSplitsReadingsAtThatTime() public {
        (bytes32 id,,) = _registerP256();
        uint40 since = 1_760_000_000;
        vm.prank(OPERATOR);
        registry.revoke(id, since);
        Readings.Reading memory before = _reading(id, since - 1, 1);
        Readings.Reading memory atRevocation = _reading(id, since, 2);
        bytes32 sep = registry.domainSeparator();
        assertTrue(
            registry.checkSignature(id, before.timestamp, helper.digest(before, sep), _signP256(before))
                == IDeviceRegistry.SignatureCheck.Valid,
            "before revocation still verifies"
        );
        assertTrue(
            registry.checkSignature(id, atRevocation.timestamp, helper.digest(atRevocation, sep), _signP256(atRevocation))
                == IDeviceRegistry.SignatureCheck.KeyNotValidAtTime,
            "at revocation refused"
        );
    }

    function test_refusesARevocationInTheFuture() public {
        (bytes32 id,,) = _registerP256();
        uint40 future = uint40(block.timestamp + 1);
        vm.prank(OPERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDeviceRegistry.DeviceRegistryRevocationInFuture.selector, future, block.timestamp
            )
        );
        registry.revoke(id, future);
    }

    function test_unknownDeviceIsReported() public view {
        assertTrue(
            registry.checkSignature(keccak256("nobody"), 1, bytes32(0), new bytes(64))
                == IDeviceRegistry.SignatureCheck.UnknownDevice,
            "unknown"
        );
    }

    // --- batches -------------------------------------------------------------------------

    function test_verifiesAReadingInACommittedSingleLeafBatch() public {
        (bytes32 id,,) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 root = helper.leaf(r);
        vm.prank(SUBMITTER);
        batches.commitBatch(root, 1, r.timestamp, r.timestamp);
        bytes32[] memory proof = new bytes32[](0);
        assertEq(batches.verifyReading(r, _signP256(r), proof), root, "root");
        assertTrue(batches.tryVerifyReading(r, _signP256(r), proof), "try");
    }

    function test_aChangedValueFailsVerification() public {
        (bytes32 id,,) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _signP256(r);
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

    function testFuzz_anyOtherValueOrSequenceFailsTheSignature(int256 value, uint64 seq) public {
        (bytes32 id,,) = _registerP256();
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _signP256(r);
        vm.assume(value != r.value || seq != r.sequence);
        Readings.Reading memory other = Readings.Reading(id, r.feedId, value, r.timestamp, seq);
        bytes32 d = helper.digest(other, registry.domainSeparator());
        assertTrue(
            registry.checkSignature(id, other.timestamp, d, sig) == IDeviceRegistry.SignatureCheck.BadSignature,
            "other reading refused"
        );
    }
}
