// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {Readings} from "../libraries/Readings.sol";
import {Fixture} from "./utils/Fixture.sol";

/// The registry part of SensorOracle: registration, signature checks on both curves, revocation,
/// key rotation (a device's keys over time), pausing and access control.
contract DeviceRegistryTest is Fixture {
    IDeviceRegistry.Curve private constant K1 = IDeviceRegistry.Curve.Secp256k1;
    IDeviceRegistry.Curve private constant P256 = IDeviceRegistry.Curve.P256;
    IDeviceRegistry.SignatureCheck private constant VALID = IDeviceRegistry.SignatureCheck.Valid;
    IDeviceRegistry.SignatureCheck private constant NOT_AT_TIME = IDeviceRegistry.SignatureCheck.KeyNotValidAtTime;
    IDeviceRegistry.SignatureCheck private constant BAD = IDeviceRegistry.SignatureCheck.BadSignature;
    uint256 private constant K1_KEY = 0xC0FFEE;
    uint256 private constant P256_KEY = 0xBEEF;
    uint256 private constant K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public {
        _deployOracle();
    }

    // --- helpers -------------------------------------------------------------------------

    /// checkSignature(id, timestamp, digest, signature) answers `want`.
    function _assertCheck(
        bytes32 id,
        uint64 timestamp,
        bytes32 digest,
        bytes memory signature,
        IDeviceRegistry.SignatureCheck want,
        string memory why
    ) private view {
        assertTrue(registry.checkSignature(id, timestamp, digest, signature) == want, why);
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

    /// A reading at `t` whose sequence is `t` (rotation tests).
    function _reading(bytes32 id, uint64 t) private pure returns (Readings.Reading memory) {
        return Readings.Reading(id, keccak256("feed"), 7, t, t);
    }

    function _rotate(bytes32 id, IDeviceRegistry.Curve curve, uint256 sk, uint40 at) private {
        (bytes32 x, bytes32 y) = _key(curve, sk);
        vm.prank(OPERATOR);
        registry.rotate(id, curve, x, y, keccak256("new cert"), at);
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }

    // --- registration and signatures ----------------------------------------------------

    function test_registersAP256DeviceAndVerifiesItsSignature() public {
        bytes32 id = _register(P256, P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        _assertCheck(id, r.timestamp, d, _sign(P256, P256_KEY, r), VALID, "valid");
    }

    function test_aP256SignatureMayCarryItsKeyWhichMustBeTheDevices() public {
        bytes32 id = _register(P256, P256_KEY);
        (bytes32 x, bytes32 y) = _p256(P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        bytes memory sig = _sign(P256, P256_KEY, r);
        _assertCheck(id, r.timestamp, d, abi.encodePacked(sig, x, y), VALID, "r||s||x||y with the device's key");
        // Another key that really signed this digest: a good signature, but not by the device's key.
        _assertCheck(id, r.timestamp, d, _signedWithAnotherKey(d), BAD, "another key refused");
        bytes memory changedKey = abi.encodePacked(sig, x, bytes32(uint256(y) ^ 1));
        _assertCheck(id, r.timestamp, d, changedKey, BAD, "a changed key refused");
        _assertCheck(id, r.timestamp, d, abi.encodePacked(sig, x), BAD, "96 bytes is neither form");
    }

    function test_rejectsAHighSP256Signature() public {
        bytes32 id = _register(P256, P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _sign(P256, P256_KEY, r);
        bytes32 rr;
        bytes32 s;
        assembly {
            rr := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
        }
        bytes memory high = abi.encodePacked(rr, bytes32(P256_N - uint256(s)));
        bytes32 d = helper.digest(r, registry.domainSeparator());
        _assertCheck(id, r.timestamp, d, high, BAD, "high-S refused");
    }

    function test_registersASecp256k1DeviceAndVerifiesItsSignature() public {
        // The device id binds the curve: a secp256k1 record is checked with ecrecover against the
        // address of its x,y. vm.addr gives the address; the registry derives the same from x,y.
        (bytes32 x, bytes32 y) = _k1(K1_KEY);
        bytes32 id = registry.deviceIdOf(IDeviceRegistry.Curve.Secp256k1, x, y);
        vm.prank(OPERATOR);
        registry.register(id, IDeviceRegistry.Curve.Secp256k1, x, y, bytes32(0), 1_700_000_000);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 7);
        bytes32 d = helper.digest(r, registry.domainSeparator());
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(K1_KEY, d);
        _assertCheck(id, r.timestamp, d, abi.encodePacked(rr, s, v), VALID, "valid");
        // The same signature without its recovery byte is not the on-chain form.
        _assertCheck(id, r.timestamp, d, abi.encodePacked(rr, s), BAD, "64-byte secp256k1 refused");
        // High-S (malleated) form refused.
        bytes memory high = abi.encodePacked(rr, bytes32(K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        _assertCheck(id, r.timestamp, d, high, BAD, "high-S refused");
    }

    function test_rejectsADeviceIdNotDerivedFromTheKey() public {
        (bytes32 x, bytes32 y) = _p256(P256_KEY);
        bytes32 wrong = keccak256("squatted");
        bytes32 expected = registry.deviceIdOf(IDeviceRegistry.Curve.P256, x, y);
        vm.prank(OPERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryDeviceIdMismatch.selector, wrong, expected)
        );
        registry.register(wrong, IDeviceRegistry.Curve.P256, x, y, bytes32(0), 0);
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
        (bytes32 x, bytes32 y) = _p256(P256_KEY);
        bytes32 id = registry.deviceIdOf(IDeviceRegistry.Curve.P256, x, y);
        bytes32 role = registry.OPERATOR_ROLE();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        registry.register(id, IDeviceRegistry.Curve.P256, x, y, bytes32(0), 0);
        _register(P256, P256_KEY);
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        registry.revoke(id, uint40(block.timestamp));
    }

    function test_revocationSinceAPastTimeSplitsReadingsAtThatTime() public {
        bytes32 id = _register(P256, P256_KEY);
        uint40 since = 1_760_000_000;
        vm.prank(OPERATOR);
        registry.revoke(id, since);
        Readings.Reading memory before = _reading(id, since - 1, 1);
        Readings.Reading memory atRevocation = _reading(id, since, 2);
        bytes32 sep = registry.domainSeparator();
        bytes32 d = helper.digest(before, sep);
        _assertCheck(id, before.timestamp, d, _sign(P256, P256_KEY, before), VALID, "before revocation still verifies");
        d = helper.digest(atRevocation, sep);
        _assertCheck(
            id, atRevocation.timestamp, d, _sign(P256, P256_KEY, atRevocation), NOT_AT_TIME, "at revocation refused"
        );
    }

    function test_refusesARevocationInTheFuture() public {
        bytes32 id = _register(P256, P256_KEY);
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
        IDeviceRegistry.SignatureCheck unknown = IDeviceRegistry.SignatureCheck.UnknownDevice;
        _assertCheck(keccak256("nobody"), 1, bytes32(0), new bytes(64), unknown, "unknown");
    }

    function testFuzz_anyOtherValueOrSequenceFailsTheSignature(int256 value, uint64 seq) public {
        bytes32 id = _register(P256, P256_KEY);
        Readings.Reading memory r = _reading(id, 1_750_000_000, 1);
        bytes memory sig = _sign(P256, P256_KEY, r);
        vm.assume(value != r.value || seq != r.sequence);
        Readings.Reading memory other = Readings.Reading(id, r.feedId, value, r.timestamp, seq);
        bytes32 d = helper.digest(other, registry.domainSeparator());
        _assertCheck(id, other.timestamp, d, sig, BAD, "other reading refused");
    }

    // --- rotation, batch registration, pausing, access --------------------------------

    function test_oldKeyVerifiesUpToTheRotationTimeAndNewKeyFromIt() public {
        bytes32 id = _register(K1, 0xA1);
        uint40 at = 1_750_000_000;
        _rotate(id, K1, 0xA2, at);
        Readings.Reading memory before = _reading(id, at - 1);
        Readings.Reading memory atRotation = _reading(id, at);
        assertTrue(_check(id, before, _sign(K1, 0xA1, before)) == VALID, "old key before rotation");
        assertTrue(_check(id, atRotation, _sign(K1, 0xA1, atRotation)) == BAD, "old key at rotation");
        assertTrue(_check(id, atRotation, _sign(K1, 0xA2, atRotation)) == VALID, "new key at rotation");
        assertTrue(_check(id, before, _sign(K1, 0xA2, before)) == BAD, "new key before rotation");
        assertEq(registry.pastKeyCount(id), 1, "one past key");
    }

    function test_rotatesAcrossCurvesAndThroughSeveralKeys() public {
        bytes32 id = _register(P256, 0xB1);
        _rotate(id, K1, 0xA3, 1_710_000_000);
        _rotate(id, P256, 0xB2, 1_720_000_000);
        Readings.Reading memory first = _reading(id, 1_705_000_000);
        Readings.Reading memory second = _reading(id, 1_715_000_000);
        Readings.Reading memory third = _reading(id, 1_725_000_000);
        assertTrue(_check(id, first, _sign(P256, 0xB1, first)) == VALID, "first key");
        assertTrue(_check(id, second, _sign(K1, 0xA3, second)) == VALID, "second key (secp256k1)");
        assertTrue(_check(id, third, _sign(P256, 0xB2, third)) == VALID, "third key");
        assertTrue(_check(id, second, _sign(P256, 0xB1, second)) == BAD, "first key after its rotation");
        Readings.Reading memory beforeAll = _reading(id, T0 - 1);
        assertTrue(_check(id, beforeAll, _sign(P256, 0xB1, beforeAll)) == NOT_AT_TIME, "before registration");
    }

    function test_revocationAppliesToEveryKeyFromItsTime() public {
        bytes32 id = _register(K1, 0xA1);
        _rotate(id, K1, 0xA2, 1_750_000_000);
        vm.prank(OPERATOR);
        registry.revoke(id, 1_740_000_000); // compromised since before the rotation
        Readings.Reading memory early = _reading(id, 1_739_999_999);
        Readings.Reading memory late = _reading(id, 1_760_000_000);
        assertTrue(_check(id, early, _sign(K1, 0xA1, early)) == VALID, "before revocation");
        assertTrue(_check(id, late, _sign(K1, 0xA2, late)) == NOT_AT_TIME, "after revocation");
    }

    function test_refusesARotationBeforeTheCurrentKeyOrInTheFuture() public {
        bytes32 id = _register(K1, 0xA1);
        (bytes32 x, bytes32 y) = _k1(0xA2);
        vm.startPrank(OPERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDeviceRegistry.DeviceRegistryInvalidRotationTime.selector, T0 - 1, T0, block.timestamp
            )
        );
        registry.rotate(id, K1, x, y, bytes32(0), T0 - 1);
        uint40 future = uint40(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDeviceRegistry.DeviceRegistryInvalidRotationTime.selector, future, T0, block.timestamp
            )
        );
        registry.rotate(id, K1, x, y, bytes32(0), future);
        vm.stopPrank();
    }

    function test_aRevokedDeviceCannotRotate() public {
        bytes32 id = _register(K1, 0xA1);
        vm.prank(OPERATOR);
        registry.revoke(id, uint40(block.timestamp));
        (bytes32 x, bytes32 y) = _k1(0xA2);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryDeviceRevoked.selector, id));
        registry.rotate(id, K1, x, y, bytes32(0), uint40(block.timestamp));
    }

    function test_registersManyDevicesInOneCall() public {
        IDeviceRegistry.Registration[] memory regs = new IDeviceRegistry.Registration[](3);
        uint256[3] memory sks = [uint256(0xA1), 0xA2, 0xA3];
        for (uint256 i = 0; i < 3; i++) {
            (bytes32 x, bytes32 y) = _k1(sks[i]);
            regs[i] = IDeviceRegistry.Registration(registry.deviceIdOf(K1, x, y), K1, x, y, bytes32(i), T0);
        }
        vm.prank(OPERATOR);
        registry.registerBatch(regs);
        for (uint256 i = 0; i < 3; i++) {
            assertTrue(registry.getDevice(regs[i].deviceId).status == IDeviceRegistry.Status.Active, "active");
        }
    }

    /// Devices 0xB0.. registered on P-256, for the batch revocation tests.
    function _registerMany(uint256 n) private returns (bytes32[] memory ids) {
        ids = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            ids[i] = _register(P256, 0xB0 + i);
        }
    }

    function test_revokesManyDevicesInOneCallWithAnEventEach() public {
        bytes32[] memory ids = _registerMany(3);
        uint40 since = uint40(block.timestamp - 60);
        for (uint256 i = 0; i < ids.length; i++) {
            vm.expectEmit(address(registry));
            emit IDeviceRegistry.DeviceRevoked(ids[i], since);
        }
        vm.prank(OPERATOR);
        registry.revokeBatch(ids, since);
        for (uint256 i = 0; i < ids.length; i++) {
            IDeviceRegistry.Device memory d = registry.getDevice(ids[i]);
            assertTrue(d.status == IDeviceRegistry.Status.Revoked, "revoked");
            assertEq(d.revokedAt, since, "revoked since the batch's time");
        }
        Readings.Reading memory r = _reading(ids[1], since, 1);
        _assertCheck(ids[1], r.timestamp, helper.digest(r, registry.domainSeparator()), _sign(P256, 0xB1, r), NOT_AT_TIME, "refused from since");
    }

    function test_oneBadIdRevertsTheWholeBatchNamingIt() public {
        bytes32[] memory ids = _registerMany(3);
        bytes32 unknown = keccak256("nobody");
        bytes32[] memory withUnknown = new bytes32[](3);
        (withUnknown[0], withUnknown[1], withUnknown[2]) = (ids[0], unknown, ids[2]);
        uint40 now_ = uint40(block.timestamp);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryUnknownDevice.selector, unknown));
        registry.revokeBatch(withUnknown, now_);

        vm.prank(OPERATOR);
        registry.revoke(ids[2], now_);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryAlreadyRevoked.selector, ids[2]));
        registry.revokeBatch(ids, now_);

        bytes32[] memory twice = new bytes32[](2);
        (twice[0], twice[1]) = (ids[0], ids[0]);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryAlreadyRevoked.selector, ids[0]));
        registry.revokeBatch(twice, now_);

        vm.prank(OPERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(IDeviceRegistry.DeviceRegistryRevocationInFuture.selector, now_ + 1, block.timestamp)
        );
        registry.revokeBatch(ids, now_ + 1);

        // Nothing of the reverted batches stuck: the first two are still active.
        assertTrue(registry.getDevice(ids[0]).status == IDeviceRegistry.Status.Active, "first still active");
        assertTrue(registry.getDevice(ids[1]).status == IDeviceRegistry.Status.Active, "second still active");
    }

    function test_onlyOperatorsRevokeInBatches() public {
        bytes32[] memory ids = _registerMany(2);
        bytes32 role = registry.OPERATOR_ROLE();
        vm.prank(STRANGER);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        registry.revokeBatch(ids, uint40(block.timestamp));
        assertTrue(registry.getDevice(ids[0]).status == IDeviceRegistry.Status.Active, "still active");
    }

    function test_batchRevocationWorksWhilePaused() public {
        bytes32[] memory ids = _registerMany(2);
        registry.pause();
        vm.prank(OPERATOR);
        registry.revokeBatch(ids, uint40(block.timestamp));
        assertTrue(registry.getDevice(ids[1]).status == IDeviceRegistry.Status.Revoked, "revoked while paused");
    }

    /// Execution gas (no 21,000 base, no calldata): one `revoke` against the marginal device of a
    /// `revokeBatch` of 50. The batch must cost less per device than a call each.
    function test_aBatchCostsLessPerDeviceThanARevokeEach() public {
        bytes32[] memory ids = _registerMany(51);
        bytes32[] memory batch = new bytes32[](50);
        for (uint256 i = 0; i < 50; i++) {
            batch[i] = ids[i + 1];
        }
        uint40 now_ = uint40(block.timestamp);
        vm.startPrank(OPERATOR);
        uint256 g = gasleft();
        registry.revoke(ids[0], now_);
        uint256 single = g - gasleft();
        g = gasleft();
        registry.revokeBatch(batch, now_);
        uint256 perDevice = (g - gasleft()) / 50;
        vm.stopPrank();
        assertTrue(perDevice < single, "a batch costs less per device than one call each");
    }

    function test_pauseStopsRegistrationAndRotationButNotRevocation() public {
        bytes32 id = _register(K1, 0xA1);
        registry.pause();
        (bytes32 x, bytes32 y) = _k1(0xA2);
        bytes32 id2 = registry.deviceIdOf(K1, x, y);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        registry.register(id2, K1, x, y, bytes32(0), T0);
        vm.prank(OPERATOR);
        vm.expectRevert(abi.encodeWithSelector(Pausable.EnforcedPause.selector));
        registry.rotate(id, K1, x, y, bytes32(0), uint40(block.timestamp));
        vm.prank(OPERATOR);
        registry.revoke(id, uint40(block.timestamp));
        registry.unpause();
        vm.prank(OPERATOR);
        registry.register(id2, K1, x, y, bytes32(0), T0);
    }

    function test_everyRestrictedFunctionRevertsForAStranger() public {
        bytes32 id = _register(K1, 0xA1);
        bytes32 op = registry.OPERATOR_ROLE();
        bytes32 admin = registry.DEFAULT_ADMIN_ROLE();
        bytes memory notOperator =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, op);
        bytes memory notAdmin =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, admin);
        (bytes32 x, bytes32 y) = _k1(0xA2);
        vm.prank(STRANGER);
        vm.expectRevert(notOperator);
        registry.rotate(id, K1, x, y, bytes32(0), uint40(block.timestamp));
        vm.prank(STRANGER);
        vm.expectRevert(notOperator);
        registry.registerBatch(new IDeviceRegistry.Registration[](0));
        vm.prank(STRANGER);
        vm.expectRevert(notOperator);
        registry.revokeBatch(new bytes32[](0), uint40(block.timestamp));
        vm.prank(STRANGER);
        vm.expectRevert(notAdmin);
        registry.pause();
        vm.prank(STRANGER);
        vm.expectRevert(notAdmin);
        registry.unpause();
        vm.prank(STRANGER);
        vm.expectRevert(notAdmin);
        registry.grantRole(op, STRANGER);
    }

    function testFuzz_rotationBoundary(uint40 at, uint64 t) public {
        at = uint40(bound(at, T0, block.timestamp));
        t = uint64(bound(t, T0, block.timestamp + 1000));
        bytes32 id = _register(K1, 0xA1);
        _rotate(id, K1, 0xA2, at);
        Readings.Reading memory r = _reading(id, t);
        bool oldValid = _check(id, r, _sign(K1, 0xA1, r)) == VALID;
        bool newValid = _check(id, r, _sign(K1, 0xA2, r)) == VALID;
        assertTrue(oldValid == (t < at), "old key valid exactly before the rotation");
        assertTrue(newValid == (t >= at), "new key valid exactly from the rotation");
    }
}
