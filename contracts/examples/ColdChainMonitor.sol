// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IReadingBatches} from "../interfaces/IReadingBatches.sol";
import {Readings} from "../libraries/Readings.sol";

/// @title ColdChainMonitor
/// @notice Example consumer: a shipment contract that records temperature excursions, and acts
/// only on a reading that verifies on-chain (committed batch, registered device, valid signature).
contract ColdChainMonitor {
    IReadingBatches private immutable _batches;
    bytes32 private immutable _feedId;
    int256 private immutable _maxValue;

    uint64 private _lastTimestamp;
    int256 private _lastValue;
    uint256 private _excursions;

    /// @notice Emitted for every verified reading taken into account.
    event ReadingAccepted(bytes32 indexed deviceId, int256 value, uint64 timestamp, bool excursion);

    /// @notice The reading is for another feed.
    error ColdChainMonitorWrongFeed(bytes32 feedId);
    /// @notice The reading is not newer than the last one taken into account.
    error ColdChainMonitorStaleReading(uint64 timestamp, uint64 lastTimestamp);

    /// @param batches the fleet's SensorOracle, which verifies readings (its ReadingBatches part)
    /// @param feedId the feed this monitor follows
    /// @param maxValue the highest acceptable value; above it is an excursion
    constructor(IReadingBatches batches, bytes32 feedId, int256 maxValue) {
        _batches = batches;
        _feedId = feedId;
        _maxValue = maxValue;
    }

    /// @notice Take a reading into account; reverts unless it verifies on-chain and is newer than the last.
    function submit(Readings.Reading calldata reading, bytes calldata signature, bytes32[] calldata proof) external {
        if (reading.feedId != _feedId) revert ColdChainMonitorWrongFeed(reading.feedId);
        if (reading.timestamp <= _lastTimestamp) revert ColdChainMonitorStaleReading(reading.timestamp, _lastTimestamp);
        _batches.verifyReading(reading, signature, proof);
        bool excursion = reading.value > _maxValue;
        _lastTimestamp = reading.timestamp;
        _lastValue = reading.value;
        if (excursion) _excursions += 1;
        emit ReadingAccepted(reading.deviceId, reading.value, reading.timestamp, excursion);
    }

    /// @notice The last verified value and its time, and how many excursions were seen.
    function state() external view returns (int256 lastValue, uint64 lastTimestamp, uint256 excursions) {
        return (_lastValue, _lastTimestamp, _excursions);
    }
}
