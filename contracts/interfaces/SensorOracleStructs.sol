// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title SensorOracleStructs
/// @notice The types a consumer of sensor-oracle exchanges with its contracts, standalone: a
/// consumer imports this file and the interfaces beside it, nothing of the implementation. Their
/// ABI encoding is the implementation's (test/e2e/consumer-interfaces.test.ts compares the selectors).
library SensorOracleStructs {
    /// @notice One sensor reading as its device signed it (docs/PROTOCOL.md), and as
    /// `verifyReading` takes it: the fields of a bridge's `GET /readings/:id` `reading`.
    /// @param deviceId the device's id (keccak256 of its first key, docs/PROTOCOL.md)
    /// @param feedId what is measured: keccak256 of the feed's name, e.g. "cold-room-7/temperature"
    /// @param value the measured value, scaled by the feed's decimals
    /// @param timestamp seconds since the Unix epoch at which the device took the reading
    /// @param sequence the device's counter, strictly increasing per device
    struct Reading {
        bytes32 deviceId;
        bytes32 feedId;
        int256 value;
        uint64 timestamp;
        uint64 sequence;
    }

    /// @notice A committed batch of readings, identified by its Merkle root.
    /// @param committedAt block time of the commit; 0 when no batch has this root
    /// @param count readings in the batch
    /// @param fromTime earliest reading time in the batch
    /// @param toTime latest reading time in the batch
    struct Batch {
        uint64 committedAt;
        uint32 count;
        uint64 fromTime;
        uint64 toTime;
    }

    /// @notice The curve of a device key (values are part of the protocol).
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

    /// @notice Why a reading's signature does or does not verify.
    enum SignatureCheck {
        Valid,
        UnknownDevice,
        KeyNotValidAtTime,
        BadSignature
    }

    /// @notice A device as the fleet's registry holds it.
    /// @param validFrom time from which the current key signs validly
    /// @param revokedAt time from which the device's readings no longer verify (0: not revoked)
    struct Device {
        Curve curve;
        Status status;
        uint40 validFrom;
        uint40 revokedAt;
        bytes32 x;
        bytes32 y;
        bytes32 certFingerprint;
    }

    /// @notice A pushed feed's configuration.
    /// @param decimals decimals of the feed's values
    /// @param quorum minimum number of distinct devices in a round
    /// @param heartbeat seconds after which the bridge pushes even without a change
    /// @param window seconds: the readings of a round lie within this span of the newest one
    struct FeedConfig {
        uint8 decimals;
        uint8 quorum;
        uint32 heartbeat;
        uint32 window;
    }
}
