import { parseAbi } from "viem";

/** The parts of the contracts' ABIs the bridge and agent use (kept in step by test/contracts-abi.test.ts). */
const READING =
  "struct Reading { bytes32 deviceId; bytes32 feedId; int256 value; uint64 timestamp; uint64 sequence; }";

export const deviceRegistryAbi = parseAbi([
  "struct Device { uint8 curve; uint8 status; uint40 validFrom; uint40 revokedAt; bytes32 x; bytes32 y; bytes32 certFingerprint; }",
  "function getDevice(bytes32 deviceId) view returns (Device)",
  "function register(bytes32 deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)",
  "function revoke(bytes32 deviceId, uint40 since)",
  "function domainSeparator() view returns (bytes32)",
  "function OPERATOR_ROLE() view returns (bytes32)",
  "function grantRole(bytes32 role, address account)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
  "struct Registration { bytes32 deviceId; uint8 curve; bytes32 x; bytes32 y; bytes32 certFingerprint; uint40 validFrom; }",
  "function registerBatch(Registration[] registrations)",
  "event DeviceRegistered(bytes32 indexed deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 validFrom)",
  "event DeviceRevoked(bytes32 indexed deviceId, uint40 since)",
  "event DeviceKeyRotated(bytes32 indexed deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 at)",
  "function rotate(bytes32 deviceId, uint8 curve, bytes32 x, bytes32 y, bytes32 certFingerprint, uint40 at)",
  "function pastKeyCount(bytes32 deviceId) view returns (uint256)",
  "function getPastKey(bytes32 deviceId, uint256 index) view returns (uint8 curve, bytes32 x, bytes32 y, uint40 validFrom, uint40 validUntil)",
]);

export const readingBatchesAbi = parseAbi([
  READING,
  "struct Batch { uint64 committedAt; uint32 count; uint64 fromTime; uint64 toTime; }",
  "function commitBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime) returns (bool)",
  "function getBatch(bytes32 root) view returns (Batch)",
  "function verifyReading(Reading reading, bytes signature, bytes32[] proof) view returns (bytes32)",
  "function tryVerifyReading(Reading reading, bytes signature, bytes32[] proof) view returns (bool)",
  "function registry() view returns (address)",
  "function SUBMITTER_ROLE() view returns (bytes32)",
  "function grantRole(bytes32 role, address account)",
  "event BatchCommitted(bytes32 indexed root, uint32 count, uint64 fromTime, uint64 toTime)",
  "error ReadingBatchesUnknownBatch(bytes32 root)",
  "error ReadingBatchesInvalidSignature(bytes32 deviceId, uint8 check)",
  "error ReadingBatchesInvalidBatch(bytes32 root, uint32 count, uint64 fromTime, uint64 toTime)",
]);

export const sensorFeedsAbi = parseAbi([
  READING,
  "struct FeedConfig { uint8 decimals; uint8 quorum; uint32 heartbeat; uint32 window; }",
  "function configureFeed(bytes32 feedId, FeedConfig config, bytes32[] devices, string description)",
  "function updateFeeds(Reading[] readings, bytes[] signatures)",
  "function latestRoundData(bytes32 feedId) view returns (uint80, int256, uint256, uint256, uint80)",
  "function getValueNoOlderThan(bytes32 feedId, uint256 maxAge) view returns (int256 value, uint256 updatedAt)",
]);

/** The ColdChainMonitor example consumer. */
export const coldChainMonitorAbi = parseAbi([
  READING,
  "function submit(Reading reading, bytes signature, bytes32[] proof)",
  "function state() view returns (int256 lastValue, uint64 lastTimestamp, uint256 excursions)",
]);

/** The FreezerAlarm example consumer (AggregatorV3Interface only). */
export const freezerAlarmAbi = parseAbi([
  "function check() returns (bool)",
  "function alarmed() view returns (bool)",
]);
