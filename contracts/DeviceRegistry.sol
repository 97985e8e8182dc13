// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDeviceRegistry} from "./interfaces/IDeviceRegistry.sol";
import {ReadingDomain} from "./ReadingDomain.sol";

/// @title DeviceRegistry
/// @notice The registry part of SensorOracle: device identities of a sensor-oracle fleet. The admin
/// grants fleet operators (OPERATOR_ROLE); operators register, revoke and rotate device keys.
/// Signature checks for either curve live here, so every consumer (batches, feeds) applies the
/// same key and time rules.
/// @dev Pausing (admin) stops what adds trust: registration and rotation. Revocation, which removes
/// trust, stays available during an incident, and verification keeps working for consumers.
/// Abstract: deployed as part of {SensorOracle}, the fleet's one contract.
abstract contract DeviceRegistry is IDeviceRegistry, ReadingDomain, AccessControl, Pausable {
    /// @notice Role of fleet operators: register, revoke and rotate devices.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    uint256 private constant _SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;

    // The current key, in one slot: everything a secp256k1 check reads.
    struct Record {
        Curve curve;
        Status status;
        uint40 validFrom;
        uint40 revokedAt;
        address signer; // _keyHash(x, y): for secp256k1 the key's Ethereum address
    }

    struct Key {
        bytes32 x;
        bytes32 y;
    }

    // A key replaced by rotation: valid for readings in [validFrom, validUntil).
    struct PastKey {
        Curve curve;
        uint40 validFrom;
        uint40 validUntil;
        address signer;
        bytes32 x;
        bytes32 y;
    }

    mapping(bytes32 deviceId => Record) private _records;
    mapping(bytes32 deviceId => Key) private _keys;
    mapping(bytes32 deviceId => bytes32) private _certFingerprints;
    mapping(bytes32 deviceId => PastKey[]) private _pastKeys;

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants operators, pauses)
    constructor(address admin) ReadingDomain(address(this)) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Stop registration and rotation. Only the admin.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Resume registration and rotation. Only the admin.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @inheritdoc IDeviceRegistry
    function register(bytes32 deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        _register(deviceId, curve, x, y, certFingerprint, validFrom);
    }

    /// @inheritdoc IDeviceRegistry
    function registerBatch(Registration[] calldata registrations) external onlyRole(OPERATOR_ROLE) whenNotPaused {
        for (uint256 i = 0; i < registrations.length; ++i) {
            Registration calldata r = registrations[i];
            _register(r.deviceId, r.curve, r.x, r.y, r.certFingerprint, r.validFrom);
        }
    }

    /// @inheritdoc IDeviceRegistry
    function revoke(bytes32 deviceId, uint40 since) external onlyRole(OPERATOR_ROLE) {
        if (since > block.timestamp) revert DeviceRegistryRevocationInFuture(since, block.timestamp);
        _revoke(deviceId, since);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeBatch(bytes32[] calldata deviceIds, uint40 since) external onlyRole(OPERATOR_ROLE) {
        if (since > block.timestamp) revert DeviceRegistryRevocationInFuture(since, block.timestamp);
        for (uint256 i = 0; i < deviceIds.length; ++i) {
            _revoke(deviceIds[i], since);
        }
    }

    /// @inheritdoc IDeviceRegistry
    function rotate(bytes32 deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 at)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        Record memory rec = _records[deviceId];
        if (rec.status == Status.None) revert DeviceRegistryUnknownDevice(deviceId);
        if (rec.status == Status.Revoked) revert DeviceRegistryDeviceRevoked(deviceId);
        if (at < rec.validFrom || at > block.timestamp) {
            revert DeviceRegistryInvalidRotationTime(at, rec.validFrom, block.timestamp);
        }
        address signer = _validateKey(curve, x, y);
        Key memory old = _keys[deviceId];
        _pastKeys[deviceId].push(
            PastKey({
                curve: rec.curve,
                validFrom: rec.validFrom,
                validUntil: at,
                signer: rec.signer,
                x: old.x,
                y: old.y
            })
        );
        _records[deviceId] = Record({curve: curve, status: Status.Active, validFrom: at, revokedAt: 0, signer: signer});
        _keys[deviceId] = Key({x: x, y: y});
        _certFingerprints[deviceId] = certFingerprint;
        emit DeviceKeyRotated(deviceId, curve, x, y, certFingerprint, at);
    }

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (Device memory) {
        Record memory rec = _records[deviceId];
        Key memory key = _keys[deviceId];
        return Device({
            curve: rec.curve,
            status: rec.status,
            validFrom: rec.validFrom,
            revokedAt: rec.revokedAt,
            x: key.x,
            y: key.y,
            certFingerprint: _certFingerprints[deviceId]
        });
    }

    /// @inheritdoc IDeviceRegistry
    function pastKeyCount(bytes32 deviceId) external view returns (uint256) {
        return _pastKeys[deviceId].length;
    }

    /// @inheritdoc IDeviceRegistry
    function getPastKey(bytes32 deviceId, uint256 index)
        external
        view
        returns (Curve curve, bytes32 x, bytes32 y, uint40 validFrom, uint40 validUntil)
    {
        PastKey storage k = _pastKeys[deviceId][index];
        return (k.curve, k.x, k.y, k.validFrom, k.validUntil);
    }

    /// @inheritdoc IDeviceRegistry
    function checkSignature(bytes32 deviceId, uint64 timestamp, bytes32 digest, bytes calldata signature)
        external
        view
        returns (SignatureCheck)
    {
        return _checkSignature(deviceId, timestamp, digest, signature);
    }

    /// @inheritdoc IDeviceRegistry
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparator();
    }

    /// @inheritdoc IDeviceRegistry
    function deviceIdOf(Curve curve, bytes32 x, bytes32 y) public pure returns (bytes32) {
        return keccak256(abi.encode(uint8(curve), x, y));
    }

    /// @dev The signature rules of `checkSignature`, for contracts that hold the registry's state
    /// (ReadingBatches, in SensorOracle). One cold slot for the record; a P-256 signature that
    /// carries its key (128 bytes) is checked against the record's key hash instead of the two key
    /// slots.
    function _checkSignature(bytes32 deviceId, uint64 timestamp, bytes32 digest, bytes calldata signature)
        internal
        view
        returns (SignatureCheck)
    {
        Record memory rec = _records[deviceId];
        if (rec.status == Status.None) return SignatureCheck.UnknownDevice;
        if (rec.status == Status.Revoked && timestamp >= rec.revokedAt) return SignatureCheck.KeyNotValidAtTime;
        if (timestamp >= rec.validFrom) {
            if (rec.curve == Curve.Secp256k1) return _verifySecp256k1(rec.signer, digest, signature);
            if (signature.length == 128) return _verifyP256WithKey(rec.signer, digest, signature);
            Key storage key = _keys[deviceId];
            return _verifyP256(key.x, key.y, digest, signature);
        }
        PastKey[] storage past = _pastKeys[deviceId];
        for (uint256 i = past.length; i > 0; --i) {
            PastKey storage k = past[i - 1];
            if (timestamp >= k.validUntil) break;
            if (timestamp >= k.validFrom) {
                if (k.curve == Curve.Secp256k1) return _verifySecp256k1(k.signer, digest, signature);
                if (signature.length == 128) return _verifyP256WithKey(k.signer, digest, signature);
                return _verifyP256(k.x, k.y, digest, signature);
            }
        }
        return SignatureCheck.KeyNotValidAtTime;
    }

    /// @dev One revocation of `revoke` or `revokeBatch`; `since` already checked against now.
    function _revoke(bytes32 deviceId, uint40 since) private {
        Record storage rec = _records[deviceId];
        if (rec.status == Status.None) revert DeviceRegistryUnknownDevice(deviceId);
        if (rec.status == Status.Revoked) revert DeviceRegistryAlreadyRevoked(deviceId);
        rec.status = Status.Revoked;
        rec.revokedAt = since;
        emit DeviceRevoked(deviceId, since);
    }

    function _register(
        bytes32 deviceId,
        Curve curve,
        bytes32 x,
        bytes32 y,
        bytes32 certFingerprint,
        uint40 validFrom
    ) private {
        if (_records[deviceId].status != Status.None) revert DeviceRegistryAlreadyRegistered(deviceId);
        address signer = _validateKey(curve, x, y);
        bytes32 expected = deviceIdOf(curve, x, y);
        if (deviceId != expected) revert DeviceRegistryDeviceIdMismatch(deviceId, expected);
        _records[deviceId] =
            Record({curve: curve, status: Status.Active, validFrom: validFrom, revokedAt: 0, signer: signer});
        _keys[deviceId] = Key({x: x, y: y});
        _certFingerprints[deviceId] = certFingerprint;
        emit DeviceRegistered(deviceId, curve, x, y, certFingerprint, validFrom);
    }

    /// @dev ECDSA over `digest` itself (as Ethereum signs), 65 bytes r||s||v, low-S only.
    function _verifySecp256k1(address signer, bytes32 digest, bytes calldata signature)
        private
        pure
        returns (SignatureCheck)
    {
        if (signature.length != 65) return SignatureCheck.BadSignature;
        // OpenZeppelin's ECDSA: refuses high-S (EIP-2) and a failed recovery.
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(digest, uint8(signature[64]), bytes32(signature[0:32]), bytes32(signature[32:64]));
        return err == ECDSA.RecoverError.NoError && recovered == signer
            ? SignatureCheck.Valid
            : SignatureCheck.BadSignature;
    }

    /// @dev A 128-byte P-256 signature r||s||x||y: the key comes with it and must hash to the
    /// record's key hash (`_keyHash`), which saves reading the key's two storage slots.
    function _verifyP256WithKey(address keyHash, bytes32 digest, bytes calldata signature)
        private
        view
        returns (SignatureCheck)
    {
        bytes32 x = bytes32(signature[64:96]);
        bytes32 y = bytes32(signature[96:128]);
        if (_keyHash(x, y) != keyHash) return SignatureCheck.BadSignature;
        return _verifyP256(x, y, digest, signature[0:64]);
    }

    /// @dev ES256 over `digest` (the digest is the message: one SHA-256 call), 64 bytes r||s.
    /// OpenZeppelin's P256 uses the P256VERIFY precompile where it answers and its Solidity
    /// verifier where it does not; it never takes an empty return for a verdict.
    function _verifyP256(bytes32 x, bytes32 y, bytes32 digest, bytes calldata signature)
        private
        view
        returns (SignatureCheck)
    {
        if (signature.length != 64) return SignatureCheck.BadSignature;
        bytes32 h = sha256(abi.encodePacked(digest));
        return P256.verify(h, bytes32(signature[0:32]), bytes32(signature[32:64]), x, y)
            ? SignatureCheck.Valid
            : SignatureCheck.BadSignature;
    }

    /// @dev keccak256(x || y), low 160 bits: the Ethereum address for a secp256k1 key, the key
    /// hash a 128-byte P-256 signature is checked against.
    function _keyHash(bytes32 x, bytes32 y) private pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(x, y)))));
    }

    function _validateKey(Curve curve, bytes32 x, bytes32 y) private pure returns (address signer) {
        if (curve == Curve.P256) {
            if (!P256.isValidPublicKey(x, y)) revert DeviceRegistryInvalidPublicKey(x, y);
            return _keyHash(x, y);
        }
        if (curve == Curve.Secp256k1) {
            uint256 px = uint256(x);
            uint256 py = uint256(y);
            uint256 p = _SECP256K1_P;
            if (px >= p || py >= p || mulmod(py, py, p) != addmod(mulmod(mulmod(px, px, p), px, p), 7, p)) {
                revert DeviceRegistryInvalidPublicKey(x, y);
            }
            return _keyHash(x, y);
        }
        revert DeviceRegistryUnsupportedCurve(uint8(curve));
    }
}
