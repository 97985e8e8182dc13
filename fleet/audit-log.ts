import { createHash, X509Certificate } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { AuditLogError } from "./errors.js";

/**
 * The fleet's audit trail: one JSON line per certificate or registry action, in the fleet folder
 * (audit.log). Each entry carries the hash of the one before it and its own hash over its content,
 * so an edited, inserted or removed entry breaks the chain at that line. The head (count and last
 * hash) is also kept in audit.head, so a log cut short at its end is detected too; whoever can
 * rewrite both files can rewrite history, which anchoring the head elsewhere (a ticket, a
 * transaction) prevents.
 */

export const AUDIT_LOG_FILE = "audit.log";
export const AUDIT_HEAD_FILE = "audit.head";

export type AuditAction =
  | "ca_created"
  | "issuing_ca_renewed"
  | "issued"
  | "registered"
  | "rotated"
  | "revoked"
  | "crl_issued"
  | "enrolment_refused"
  | "renewed"
  | "rotation_queued"
  | "decommissioned";

/** What a command records of one action. */
export type AuditRecord = {
  action: AuditAction;
  /** The device's name (64 hex), when the action concerns one. */
  device?: string;
  /** The certificate's serial number (hex), when a certificate is concerned. */
  serial?: string;
  /** The transaction's hash, when the action went on-chain. */
  tx?: string;
  /** Anything else worth keeping: a reason, a block number, an error code. Never a secret. */
  details?: Record<string, string | number | boolean>;
};

export type AuditEntry = AuditRecord & {
  seq: number;
  time: string;
  operator: string;
  prev: string;
  hash: string;
};

const GENESIS = "0".repeat(64);

/** sha256 over the entry's fields (all but `hash`), in a fixed order. */
function entryHash(e: Omit<AuditEntry, "hash">): string {
  const canonical = JSON.stringify([
    e.seq,
    e.time,
    e.operator,
    e.action,
    e.device ?? null,
    e.serial ?? null,
    e.tx ?? null,
    e.details ?? null,
    e.prev,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/** The operator fleet.json names ("operator"), if any. */
function configuredOperator(dir: string): string | undefined {
  try {
    const cfg = JSON.parse(readFileSync(join(dir, "fleet.json"), "utf8")) as { operator?: unknown };
    return typeof cfg.operator === "string" && cfg.operator ? cfg.operator : undefined;
  } catch {
    return undefined;
  }
}

/** Who acts: $SO_OPERATOR, else the fleet's configured operator, else the OS user. */
export function operatorIdentity(configured?: string): string {
  const env = process.env.SO_OPERATOR;
  if (env) return env;
  if (configured) return configured;
  try {
    return `os:${userInfo().username}`;
  } catch {
    return `uid:${process.getuid?.() ?? "?"}`;
  }
}

/** The fleet's audit log, opened for appending (the head is read once). */
export class AuditLog {
  readonly path: string;
  readonly #headPath: string;
  readonly #operator: string;
  #seq: number;
  #prev: string;

  private constructor(dir: string, operator: string, seq: number, prev: string) {
    this.path = join(dir, AUDIT_LOG_FILE);
    this.#headPath = join(dir, AUDIT_HEAD_FILE);
    this.#operator = operator;
    this.#seq = seq;
    this.#prev = prev;
  }

  /**
   * Open a fleet folder's log; the last entry (if any) gives the chain's head. The operator is
   * $SO_OPERATOR, else fleet.json's "operator", else the OS user.
   */
  static open(dir: string, operator = operatorIdentity(configuredOperator(dir))): AuditLog {
    const path = join(dir, AUDIT_LOG_FILE);
    if (!existsSync(path)) return new AuditLog(dir, operator, 0, GENESIS);
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    const last = lines.at(-1);
    if (!last) return new AuditLog(dir, operator, 0, GENESIS);
    let e: AuditEntry;
    try {
      e = JSON.parse(last) as AuditEntry;
    } catch (cause) {
      throw new AuditLogError("malformed", lines.length, "The audit log's last line is not an entry.", {
        cause,
      });
    }
    return new AuditLog(dir, operator, e.seq, e.hash);
  }

  /**
   * A log for a long-running process (the enrolment endpoint) that others append to meanwhile
   * (the operator's commands): each append continues from the head file, not from what this
   * process wrote last.
   */
  static following(dir: string, operator = operatorIdentity(configuredOperator(dir))): AuditLog {
    const log = AuditLog.open(dir, operator);
    log.#following = true;
    return log;
  }

  #following = false;

  /** Append one action (flushed before this returns) and move the head. */
  append(r: AuditRecord): AuditEntry {
    if (this.#following && existsSync(this.#headPath)) {
      const head = JSON.parse(readFileSync(this.#headPath, "utf8")) as { seq: number; hash: string };
      this.#seq = head.seq;
      this.#prev = head.hash;
    }
    const body: Omit<AuditEntry, "hash"> = {
      seq: this.#seq + 1,
      time: new Date().toISOString(),
      operator: this.#operator,
      action: r.action,
      ...(r.device ? { device: r.device } : {}),
      ...(r.serial ? { serial: r.serial } : {}),
      ...(r.tx ? { tx: r.tx } : {}),
      ...(r.details ? { details: r.details } : {}),
      prev: this.#prev,
    };
    const entry = { ...body, hash: entryHash(body) };
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`);
    this.#seq = entry.seq;
    this.#prev = entry.hash;
    writeFileSync(this.#headPath, `${JSON.stringify({ seq: entry.seq, hash: entry.hash })}\n`);
    return entry;
  }
}

/** Append one action to a fleet folder's audit log: the one call each command makes. */
export function audit(dir: string, r: AuditRecord): AuditEntry {
  return AuditLog.open(dir).append(r);
}

/**
 * Read and verify a fleet folder's audit log: every entry's hash, every link to the entry before,
 * the sequence numbers, and the head file. Throws AuditLogError naming the first bad line.
 */
export function verifyAuditLog(dir: string): AuditEntry[] {
  const path = join(dir, AUDIT_LOG_FILE);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const entries: AuditEntry[] = [];
  let prev = GENESIS;
  lines.forEach((line, i) => {
    const n = i + 1;
    let e: AuditEntry;
    try {
      e = JSON.parse(line) as AuditEntry;
    } catch (cause) {
      throw new AuditLogError("malformed", n, `Audit log line ${n} is not a JSON entry.`, { cause });
    }
    const { hash, ...body } = e;
    if (entryHash(body) !== hash)
      throw new AuditLogError(
        "hash_mismatch",
        n,
        `Audit log line ${n} was altered: its hash does not match its content.`,
        {
          details: line,
        },
      );
    if (e.prev !== prev || e.seq !== n)
      throw new AuditLogError(
        "chain_broken",
        n,
        `Audit log line ${n} does not follow the entry before it (an entry was removed or inserted).`,
        {
          details: line,
        },
      );
    prev = hash;
    entries.push(e);
  });
  const headPath = join(dir, AUDIT_HEAD_FILE);
  if (existsSync(headPath)) {
    const head = JSON.parse(readFileSync(headPath, "utf8")) as { seq: number; hash: string };
    if (head.seq !== entries.length || head.hash !== prev)
      throw new AuditLogError(
        "truncated",
        entries.length + 1,
        `The audit log ends at entry ${entries.length} but its head says ${head.seq}: entries were removed from its end.`,
      );
  }
  return entries;
}

/** A revocation: the certificate onto the CRL (re-issued) and, with `tx`, the device revoked on-chain. */
export function auditRevocation(dir: string, device: string, certPem: string, tx?: string): void {
  const log = AuditLog.open(dir);
  const serial = new X509Certificate(certPem).serialNumber.toLowerCase();
  log.append({ action: "crl_issued", device, serial });
  log.append({ action: "revoked", device, serial, ...(tx ? { tx } : {}) });
}

/** An enrolment: the certificate issued and, with `tx`, the device registered on-chain. */
export function auditEnrolment(dir: string, device: string, certPem: string, tx?: string): void {
  const log = AuditLog.open(dir);
  const serial = new X509Certificate(certPem).serialNumber.toLowerCase();
  log.append({ action: "issued", device, serial });
  if (tx) log.append({ action: "registered", device, serial, tx });
}
