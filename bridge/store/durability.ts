import { StoreNotDurableError } from "./errors.js";

/** One setting that decides whether an acknowledged reading survives a crash or memory pressure. */
export type DurabilityCheck = {
  setting: "appendonly" | "appendfsync" | "maxmemory-policy" | "store";
  /** As the server reports it, or "unknown" when it could not be read (CONFIG disabled). */
  value: string;
  /**
   * ok; warn (survives a Redis crash, a power loss can lose the last second: appendfsync everysec);
   * fail (an acknowledged reading can be lost); unknown.
   */
  status: "ok" | "warn" | "fail" | "unknown";
  /** What the setting must be, e.g. "appendonly must be yes". */
  fix: string;
};

export type DurabilityReport = {
  /** not_durable when any check failed; unknown when none failed but some could not be read. */
  status: "durable" | "not_durable" | "unknown";
  checks: DurabilityCheck[];
  /** How the settings were read: CONFIG GET, or INFO when CONFIG is disabled by the operator. */
  source: "config" | "info" | "memory";
};

/** The settings a Redis holding acknowledged readings must have, judged from their values (null: unknown). */
export function judgeRedisSettings(
  v: { appendonly: string | null; appendfsync: string | null; maxmemoryPolicy: string | null },
  source: DurabilityReport["source"],
): DurabilityReport {
  const check = (
    setting: DurabilityCheck["setting"],
    value: string | null,
    fix: string,
    judge: (v: string) => DurabilityCheck["status"],
  ): DurabilityCheck => ({
    setting,
    value: value ?? "unknown",
    status: value ? judge(value) : "unknown",
    fix,
  });
  const checks = [
    check("appendonly", v.appendonly, "appendonly must be yes", (x) => (x === "yes" ? "ok" : "fail")),
    check("appendfsync", v.appendfsync, "appendfsync must be always (or everysec)", (x) =>
      x === "always" ? "ok" : x === "everysec" ? "warn" : "fail",
    ),
    check("maxmemory-policy", v.maxmemoryPolicy, "maxmemory-policy must be noeviction", (x) =>
      x === "noeviction" ? "ok" : "fail",
    ),
  ];
  return { status: statusOf(checks), checks, source };
}

function statusOf(checks: DurabilityCheck[]): DurabilityReport["status"] {
  if (checks.some((c) => c.status === "fail")) return "not_durable";
  return checks.some((c) => c.status === "unknown") ? "unknown" : "durable";
}

/** The report of an in-process store: nothing survives the process. */
export const MEMORY_DURABILITY: DurabilityReport = {
  status: "not_durable",
  checks: [{ setting: "store", value: "memory", status: "fail", fix: "set REDIS_URL to a durable Redis" }],
  source: "memory",
};

/** Throws StoreNotDurableError naming every failed setting; "unknown" passes (the caller logs it). */
export function assertDurable(report: DurabilityReport): void {
  const failed = report.checks.filter((c) => c.status === "fail");
  if (failed.length > 0) throw new StoreNotDurableError(failed);
}
