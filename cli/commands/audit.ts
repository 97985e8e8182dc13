import { resolve } from "node:path";
import { verifyAuditLog } from "../../fleet/audit-log.js";
import { args, need } from "../args.js";

/**
 * `audit --dir <fleet>`: list the fleet's audit log (one line per action) and verify its hash
 * chain; a broken chain fails (exit 1) naming the first bad line.
 */
export async function auditCommand(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", quiet: "boolean" });
  const dir = resolve(need(v, "dir"));
  const entries = verifyAuditLog(dir);
  if (!v.quiet)
    for (const e of entries)
      console.log(
        [
          String(e.seq).padStart(5),
          e.time,
          e.operator,
          e.action.padEnd(17),
          e.device ? e.device.slice(0, 16) : "-".padEnd(16),
          e.serial ? `serial ${e.serial}` : "",
          e.tx ? `tx ${e.tx}` : "",
          e.details ? JSON.stringify(e.details) : "",
        ]
          .filter(Boolean)
          .join("  "),
      );
  return `audit log: ${entries.length} entries, hash chain verified${entries.length ? ` (head ${entries.at(-1)?.hash.slice(0, 16)}…)` : ""}`;
}
