import { SensorOracleError } from "../../protocol/errors.js";

/**
 * The archive (SQLite file or PostgreSQL server) could not be reached or refused the operation
 * for now. Nothing half-written: each batch is written in one transaction. Retry later; until
 * then committed batches stay in Redis (the archive lags).
 */
export class ArchiveUnavailableError extends SensorOracleError {
  override name = "ArchiveUnavailableError" as const;
  readonly retryable = true as const;
}

/**
 * A batch offered to the archive does not hold together: its readings do not match its ids, or
 * they give another Merkle root. Never written; a bug, not a passing fault.
 */
export class ArchiveBatchInvalidError extends SensorOracleError {
  override name = "ArchiveBatchInvalidError" as const;
}

/** A paging cursor the archive did not issue (GET .../readings?cursor=). */
export class ArchiveCursorInvalidError extends SensorOracleError {
  override name = "ArchiveCursorInvalidError" as const;
}
