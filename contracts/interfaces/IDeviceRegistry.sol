// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IDeviceRegistry
/// @notice Registered device identities of a sensor-oracle fleet: one public key per device id,
/// its curve, its certificate fingerprint, and the time range in which the key signs validly.
interface IDeviceRegistry {
    /// @notice The curve of a device key. Values are part of the protocol (docs/PROTOCOL.md).
    enum Curve {
        None,
        Secp256k1,
        P256
    }

    /// @notice Lifecycle of a device record.
    enum Status {
        None,
        Active,
        Revoked
    }

    /// @notice Outcome of a signature check, so callers can branch without reverting.
    enum SignatureCheck {
        Valid,
        UnknownDevice,
        KeyNotValidAtTime,
        BadSignature
    }

    /// @notice A device as the registry holds it.
    struct Device {
        Curve curve;
        Status status;
        uint40 validFrom;
        uint40 revokedAt;
        bytes32 x;
        bytes32 y;
        bytes32 certFingerprint;
    }

    /// @notice Emitted when a device is registered.
    event DeviceRegistered(
        bytes32 indexed deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom
    );

    /// @notice Emitted when a device is revoked; readings signed at or after `since` no longer verify.
    event DeviceRevoked(bytes32 indexed deviceId, uint40 since);

    /// @notice Emitted when a device's key is rotated; the old key verifies readings before `at` only.
    event DeviceKeyRotated(
        bytes32 indexed deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 at
    );

    /// @notice One registration of {registerBatch}.
    struct Registration {
        bytes32 deviceId;
        Curve curve;
        bytes32 x;
        bytes32 y;
        bytes32 certFingerprint;
        uint40 validFrom;
    }

    /// @notice The device id is not the one derived from its first key (docs/PROTOCOL.md).
    error DeviceRegistryDeviceIdMismatch(bytes32 deviceId, bytes32 expected);
    /// @notice The device id is already registered.
    error DeviceRegistryAlreadyRegistered(bytes32 deviceId);
    /// @notice The device id is not registered.
    error DeviceRegistryUnknownDevice(bytes32 deviceId);
    /// @notice The device is already revoked.
    error DeviceRegistryAlreadyRevoked(bytes32 deviceId);
    /// @notice The curve is not one the registry supports.
    error DeviceRegistryUnsupportedCurve(uint8 curve);
    /// @notice The point is not on the named curve.
    error DeviceRegistryInvalidPublicKey(bytes32 x, bytes32 y);
    /// @notice A revocation time lies in the future.
    error DeviceRegistryRevocationInFuture(uint40 since, uint256 nowTime);
    /// @notice A rotation time lies before the current key's validity or in the future.
    error DeviceRegistryInvalidRotationTime(uint40 at, uint40 currentValidFrom, uint256 nowTime);
    /// @notice The device is revoked; a revoked device cannot rotate.
    error DeviceRegistryDeviceRevoked(bytes32 deviceId);

    /// @notice Register a device key. Only operators.
    function register(bytes32 deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)
        external;

    /// @notice Register many devices in one call. Only operators.
    function registerBatch(Registration[] calldata registrations) external;

    /// @notice Revoke a device from `since` (now or in the past: "compromised since"). Only operators.
    /// Readings signed at or after `since` never verify; earlier ones still do.
    function revoke(bytes32 deviceId, uint40 since) external;

    /// @notice Revoke many devices from one time `since` (now or in the past), as {revoke} does each:
    /// one DeviceRevoked event per device. All or nothing: an unknown or already revoked id reverts
    /// the whole batch with that id in the error (DeviceRegistryUnknownDevice,
    /// DeviceRegistryAlreadyRevoked), so the caller never holds a half-done batch. One `since` for
    /// all: a bulk revocation is one decision at one time; devices compromised at different times
    /// go in one batch per time. Only operators; available while paused, as {revoke} is.
    function revokeBatch(bytes32[] calldata deviceIds, uint40 since) external;

    /// @notice Give a device a new key from time `at` (between the current key's validFrom and now).
    /// The old key verifies readings before `at` only; the device id does not change. Only operators.
    function rotate(bytes32 deviceId, Curve curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 at)
        external;

    /// @notice How many earlier keys a device has (one per rotation).
    function pastKeyCount(bytes32 deviceId) external view returns (uint256);

    /// @notice An earlier key of a device, oldest first: valid for readings in [validFrom, validUntil).
    function getPastKey(bytes32 deviceId, uint256 index)
        external
        view
        returns (Curve curve, bytes32 x, bytes32 y, uint40 validFrom, uint40 validUntil);

    /// @notice The device record; status None for an unknown id.
    function getDevice(bytes32 deviceId) external view returns (Device memory);

    /// @notice Whether `signature` over `digest` is the device's, by a key valid at `timestamp`.
    /// @param digest the reading's EIP-712 digest
    /// @param signature P-256: 64 bytes r||s, ECDSA-SHA256 over `digest`, or 128 bytes r||s||x||y
    /// carrying the device's key (cheaper: checked against the record's key hash, not read from
    /// storage); secp256k1: 65 bytes r||s||v, ECDSA directly over `digest`. Low-S only for secp256k1.
    function checkSignature(bytes32 deviceId, uint64 timestamp, bytes32 digest, bytes calldata signature)
        external
        view
        returns (SignatureCheck);

    /// @notice The EIP-712 domain separator readings of this fleet are signed under.
    function domainSeparator() external view returns (bytes32);

    /// @notice The device id of a first key: keccak256(abi.encode(uint8(curve), x, y)).
    function deviceIdOf(Curve curve, bytes32 x, bytes32 y) external pure returns (bytes32);
}
