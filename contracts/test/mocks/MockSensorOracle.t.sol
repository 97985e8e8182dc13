// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ExcursionClaim} from "../../examples/ExcursionClaim.sol";
import {IDeviceRegistry} from "../../interfaces/IDeviceRegistry.sol";
import {ISensorOracle} from "../../interfaces/ISensorOracle.sol";
import {SensorOracleStructs} from "../../interfaces/SensorOracleStructs.sol";
import {Readings} from "../../libraries/Readings.sol";
import {MockSensorOracle} from "../../mocks/MockSensorOracle.sol";
import {Fixture} from "../utils/Fixture.sol";

/// The consumer kit's verifier mock: it answers as the real SensorOracle does (same leaves, same
/// proofs, same errors) with signature verdicts the test sets; and the real SensorOracle answers
/// the consumer interface's calls.
contract MockSensorOracleTest is Fixture {
    MockSensorOracle private mock;
    bytes32 private constant FEED = keccak256("cold-room-7/temperature");
    bytes32 private constant DEVICE = keccak256("device");

    function setUp() public {
        mock = new MockSensorOracle();
    }

    function _reading(int256 value, uint64 timestamp) private pure returns (SensorOracleStructs.Reading memory) {
        return SensorOracleStructs.Reading(DEVICE, FEED, value, timestamp, 1);
    }

    function _noProof() private pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }

    function test_verifiesACommittedReadingWithAnEmptyProof() public {
        SensorOracleStructs.Reading memory r = _reading(-1200, 1_750_000_000);
        bytes32 root = mock.commitReading(r);
        assertEq(mock.verifyReading(r, "", _noProof()), root, "root");
        assertTrue(mock.tryVerifyReading(r, "", _noProof()), "try");
        assertEq(mock.getBatch(root).count, 1, "count");
    }

    function test_computesTheRealContractsLeaf() public {
        Readings.Reading memory real = Readings.Reading(DEVICE, FEED, -1200, 1_750_000_000, 7);
        SensorOracleStructs.Reading memory kit = SensorOracleStructs.Reading(DEVICE, FEED, -1200, 1_750_000_000, 7);
        assertEq(mock.leafOf(kit), helper.leaf(real), "leaf");
    }

    function test_verifiesEachReadingOfATwoReadingBatch() public {
        SensorOracleStructs.Reading memory a = _reading(100, 1_750_000_000);
        SensorOracleStructs.Reading memory b = _reading(200, 1_750_000_001);
        bytes32 la = mock.leafOf(a);
        bytes32 lb = mock.leafOf(b);
        bytes32 root = la < lb ? keccak256(abi.encode(la, lb)) : keccak256(abi.encode(lb, la));
        mock.commitBatch(root, 2, a.timestamp, b.timestamp);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = lb;
        assertEq(mock.verifyReading(a, "", proof), root, "a");
        proof[0] = la;
        assertEq(mock.verifyReading(b, "", proof), root, "b");
    }

    function test_revertsUnknownBatchForAChangedReading() public {
        SensorOracleStructs.Reading memory r = _reading(-1200, 1_750_000_000);
        mock.commitReading(r);
        r.value = -1300;
        vm.expectRevert(abi.encodeWithSelector(ISensorOracle.ReadingBatchesUnknownBatch.selector, mock.leafOf(r)));
        mock.verifyReading(r, "", _noProof());
        assertTrue(!mock.tryVerifyReading(r, "", _noProof()), "try");
    }

    function test_revertsWithTheSignatureVerdictTheTestSets() public {
        SensorOracleStructs.Reading memory r = _reading(-1200, 1_750_000_000);
        mock.commitReading(r);
        mock.setSignatureCheck(DEVICE, SensorOracleStructs.SignatureCheck.KeyNotValidAtTime);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISensorOracle.ReadingBatchesInvalidSignature.selector,
                DEVICE,
                SensorOracleStructs.SignatureCheck.KeyNotValidAtTime
            )
        );
        mock.verifyReading(r, "", _noProof());
        assertTrue(!mock.tryVerifyReading(r, "", _noProof()), "try");
        mock.setSignatureCheck(DEVICE, SensorOracleStructs.SignatureCheck.Valid);
        assertTrue(mock.tryVerifyReading(r, "", _noProof()), "valid again");
    }

    function test_returnsTheDeviceTheTestSets() public {
        SensorOracleStructs.Device memory d = SensorOracleStructs.Device(
            SensorOracleStructs.Curve.P256, SensorOracleStructs.Status.Revoked, 1, 2, bytes32(uint256(3)), bytes32(uint256(4)), bytes32(0)
        );
        mock.setDevice(DEVICE, d);
        assertEq(uint256(mock.getDevice(DEVICE).status), uint256(SensorOracleStructs.Status.Revoked), "status");
        assertEq(mock.getDevice(DEVICE).revokedAt, 2, "since");
    }

    function test_theRealSensorOracleAnswersTheConsumerInterface() public {
        _deployOracle();
        oracle.grantRole(oracle.SUBMITTER_ROLE(), address(this));
        uint256 sk = 0xBEEF;
        bytes32 id = _register(IDeviceRegistry.Curve.P256, sk);
        Readings.Reading memory r = Readings.Reading(id, FEED, 42, 1_750_000_000, 1);
        bytes memory sig = _sign(IDeviceRegistry.Curve.P256, sk, r);
        oracle.commitBatch(helper.leaf(r), 1, r.timestamp, r.timestamp);
        ISensorOracle kit = ISensorOracle(address(oracle));
        SensorOracleStructs.Reading memory k = SensorOracleStructs.Reading(id, FEED, 42, 1_750_000_000, 1);
        assertEq(kit.verifyReading(k, sig, _noProof()), helper.leaf(r), "root");
        assertEq(kit.getBatch(helper.leaf(r)).count, 1, "batch");
        assertEq(uint256(kit.getDevice(id).status), uint256(SensorOracleStructs.Status.Active), "device");
        assertEq(kit.domainSeparator(), oracle.domainSeparator(), "domain");
        k.value = 43;
        assertTrue(!kit.tryVerifyReading(k, sig, _noProof()), "changed");
    }

    function test_theExcursionClaimExamplePaysOnlyOnAVerifiedExcursion() public {
        ExcursionClaim policy = new ExcursionClaim(mock, FEED, -1500, 1_750_000_000, 1_750_086_400);
        SensorOracleStructs.Reading memory cold = _reading(-1800, 1_750_000_100);
        mock.commitReading(cold);
        vm.expectRevert(abi.encodeWithSelector(ExcursionClaim.ExcursionClaimNoExcursion.selector, int256(-1800), int256(-1500)));
        policy.claim(cold, "", _noProof());

        SensorOracleStructs.Reading memory warm = _reading(-1200, 1_750_000_200);
        vm.expectRevert(abi.encodeWithSelector(ISensorOracle.ReadingBatchesUnknownBatch.selector, mock.leafOf(warm)));
        policy.claim(warm, "", _noProof()); // not committed
        mock.commitReading(warm);
        policy.claim(warm, "", _noProof());
        assertTrue(policy.claimed(), "claimed");
        vm.expectRevert(abi.encodeWithSelector(ExcursionClaim.ExcursionClaimAlreadyClaimed.selector));
        policy.claim(warm, "", _noProof());
    }
}
