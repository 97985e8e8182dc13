// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {Readings} from "../libraries/Readings.sol";
import {Fixture} from "./Fixture.sol";

contract RotationTest is Fixture {
    IDeviceRegistry.Curve private constant K1 = IDeviceRegistry.Curve.Secp256k1;
    IDeviceRegistry.Curve private constant P256 = IDeviceRegistry.Curve.P256;
    IDeviceRegistry.SignatureCheck private constant VALID = IDeviceRegistry.SignatureCheck.Valid;
    IDeviceRegistry.SignatureCheck private constant NOT_AT_TIME = IDeviceRegistry.SignatureCheck.KeyNotValidAtTime;
    IDeviceRegistry.SignatureCheck private constant BAD = IDeviceRegistry.SignatureCheck.BadSignature;

    function setUp() public {
        _deployRegistry();
    }

    function _reading(bytes32 id, uint64 t) private pure returns (Readings.Reading memory) {
        return Readings.Reading(id, keccak256("feed"), 7, t, t);
    }

    function _rotate(bytes32 id, IDeviceRegistry.Curve curve, uint256 sk, uint40 at) private {
        (bytes32 x, bytes32 y) = _key(curve, sk);
        vm.prank(OPERATOR);
        registry.rotate(id, curve, x, y, keccak256("new cert"), at);
    }

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

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}
