import { SensorOracleError } from "../../protocol/errors.js";
import type { DurabilityCheck } from "./durability.js";

/**
 * The store would not keep an acknowledged reading through a crash or under memory pressure
 * (no append-only file, or an eviction policy). The bridge refuses to start on it: an ack must
 * mean the reading is safe. `failed` names each setting and its fix.
 */
export class StoreNotDurableError extends SensorOracleError {
  override name = "StoreNotDurableError" as const;
  readonly failed: DurabilityCheck[];
  constructor(failed: DurabilityCheck[]) {
    super(`Store is not durable: ${failed.map((c) => c.fix).join("; ")}.`, {
      details: failed.map((c) => `${c.setting} is ${c.value}`).join(", "),
    });
    this.failed = failed;
  }
}

/**
 * The store refused a write for now and changed nothing (Redis at maxmemory: "OOM command not
 * allowed"; also MISCONF, READONLY, LOADING, BUSY). The reading was not queued: do not ack it;
 * the device keeps it and sends it again later.
 */
export class StoreUnavailableError extends SensorOracleError {
  override name = "StoreUnavailableError" as const;
  readonly retryable = true as const;
  /** The Redis error code, e.g. "OOM". */
  readonly code: string;
  constructor(code: string, params: { cause?: unknown; details?: string } = {}) {
    super(`Store refused the write for now (${code}); nothing was stored, retry later.`, params);
    this.code = code;
  }
}

const RETRYABLE = /^(OOM|MISCONF|READONLY|LOADING|BUSY|NOREPLICAS|MASTERDOWN|TRYAGAIN)\b/;

/** A Redis reply error that means "refused for now, nothing written" as StoreUnavailableError; others as they are. */
export function classifyStoreError(err: unknown): unknown {
  const message = err instanceof Error ? err.message : "";
  const code = RETRYABLE.exec(message)?.[1];
  return code ? new StoreUnavailableError(code, { cause: err, details: message }) : err;
}
