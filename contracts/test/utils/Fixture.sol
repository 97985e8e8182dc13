// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DeviceRegistry} from "../../DeviceRegistry.sol";
import {IDeviceRegistry} from "../../interfaces/IDeviceRegistry.sol";
import {Readings} from "../../libraries/Readings.sol";
import {SensorOracle} from "../../SensorOracle.sol";
import {CheatsTest} from "./Cheats.sol";
import {K1Keys} from "./K1Keys.sol";
import {ReadingsHarness} from "./ReadingsHarness.sol";

/// Shared set-up: the fleet's SensorOracle with an operator (`registry` is the same contract seen
/// as its registry part), and helpers to register and sign for both curves.
abstract contract Fixture is CheatsTest {
    SensorOracle internal oracle;
    DeviceRegistry internal registry;
    ReadingsHarness internal helper = new ReadingsHarness();
    address internal constant OPERATOR = address(0xA11CE);
    address internal constant STRANGER = address(0xBAD);
    uint256 internal constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    uint40 internal constant T0 = 1_700_000_000;

    function _deployOracle() internal {
        vm.warp(1_800_000_000);
        oracle = new SensorOracle(address(this)); // the registry as deployed: part of SensorOracle
        registry = oracle;
        registry.grantRole(registry.OPERATOR_ROLE(), OPERATOR);
    }

    function _k1(uint256 sk) internal view returns (bytes32 x, bytes32 y) {
        (x, y) = K1Keys.publicKey(sk);
        require(address(uint160(uint256(keccak256(abi.encode(x, y))))) == vm.addr(sk), "K1Keys entry is wrong");
    }

    function _p256(uint256 sk) internal view returns (bytes32 x, bytes32 y) {
        (uint256 px, uint256 py) = vm.publicKeyP256(sk);
        return (bytes32(px), bytes32(py));
    }

    function _key(IDeviceRegistry.Curve curve, uint256 sk) internal view returns (bytes32, bytes32) {
        return curve == IDeviceRegistry.Curve.P256 ? _p256(sk) : _k1(sk);
    }

    function _register(IDeviceRegistry.Curve curve, uint256 sk) internal returns (bytes32 id) {
        (bytes32 x, bytes32 y) = _key(curve, sk);
        id = registry.deviceIdOf(curve, x, y);
        vm.prank(OPERATOR);
        registry.register(id, curve, x, y, keccak256(abi.encode(id)), T0);
    }

    function _sign(IDeviceRegistry.Curve curve, uint256 sk, Readings.Reading memory r)
        internal
        view
        returns (bytes memory)
    {
        bytes32 d = helper.digest(r, registry.domainSeparator());
        if (curve == IDeviceRegistry.Curve.Secp256k1) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(sk, d);
            return abi.encodePacked(rr, s, v);
        }
        (bytes32 pr, bytes32 ps) = vm.signP256(sk, sha256(abi.encodePacked(d)));
        if (uint256(ps) > P256_N / 2) ps = bytes32(P256_N - uint256(ps));
        return abi.encodePacked(pr, ps);
    }

    function _check(bytes32 id, Readings.Reading memory r, bytes memory sig)
        internal
        view
        returns (IDeviceRegistry.SignatureCheck)
    {
        return registry.checkSignature(id, r.timestamp, helper.digest(r, registry.domainSeparator()), sig);
    }
}
