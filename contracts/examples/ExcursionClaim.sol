// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISensorOracle} from "../interfaces/ISensorOracle.sol";
import {SensorOracleStructs} from "../interfaces/SensorOracleStructs.sol";

/// @title ExcursionClaim
/// @notice Pull example (docs/CONSUMERS.md): a cold-chain policy that pays out once a verified
/// reading of its feed, taken during the policy's period, is warmer than its limit. Whoever holds
/// such a reading (fetched with its proof from any bridge: `GET /readings/:id`) submits it; the
/// contract trusts nothing but `verifyReading`. Built on the consumer kit only (contracts/interfaces).
contract ExcursionClaim {
    ISensorOracle public immutable oracle;
    bytes32 public immutable feedId;
    int256 public immutable maxValue;
    uint64 public immutable from;
    uint64 public immutable until;

    /// @notice The verified reading that made the claim, once there is one.
    SensorOracleStructs.Reading public excursion;
    bool public claimed;

    /// @notice Emitted when a verified excursion settles the claim.
    event ExcursionClaimed(bytes32 indexed deviceId, int256 value, uint64 timestamp, bytes32 batchRoot);

    /// @notice The reading is of another feed.
    error ExcursionClaimWrongFeed(bytes32 feedId);
    /// @notice The reading was taken outside the policy's period.
    error ExcursionClaimOutsidePeriod(uint64 timestamp, uint64 from, uint64 until);
    /// @notice The reading is within the limit: no excursion.
    error ExcursionClaimNoExcursion(int256 value, int256 maxValue);
    /// @notice The claim is already settled.
    error ExcursionClaimAlreadyClaimed();

    /// @param oracle_ the fleet's SensorOracle (or a MockSensorOracle in tests)
    /// @param feedId_ keccak256 of the feed's name
    /// @param maxValue_ the highest acceptable value, in the feed's decimals
    /// @param from_ the policy's start (Unix seconds)
    /// @param until_ the policy's end (Unix seconds)
    constructor(ISensorOracle oracle_, bytes32 feedId_, int256 maxValue_, uint64 from_, uint64 until_) {
        oracle = oracle_;
        feedId = feedId_;
        maxValue = maxValue_;
        from = from_;
        until = until_;
    }

    /// @notice Settle the claim with a reading, its device signature and its Merkle proof; reverts
    /// unless the reading verifies on-chain and shows an excursion during the period.
    function claim(SensorOracleStructs.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
    {
        if (claimed) revert ExcursionClaimAlreadyClaimed();
        if (reading.feedId != feedId) revert ExcursionClaimWrongFeed(reading.feedId);
        if (reading.timestamp < from || reading.timestamp > until) {
            revert ExcursionClaimOutsidePeriod(reading.timestamp, from, until);
        }
        if (reading.value <= maxValue) revert ExcursionClaimNoExcursion(reading.value, maxValue);
        bytes32 root = oracle.verifyReading(reading, signature, proof); // reverts unless verified
        claimed = true;
        excursion = reading;
        emit ExcursionClaimed(reading.deviceId, reading.value, reading.timestamp, root);
    }
}
