import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUDIT_LOG_FILE, AuditLog, verifyAuditLog } from "./audit-log.js";
import { AuditLogError } from "./errors.js";

describe("audit log: hash-chained JSON lines", () => {
  let dir: string;
  const path = () => join(dir, AUDIT_LOG_FILE);
  const lines = () => readFileSync(path(), "utf8").trimEnd().split("\n");
  const write = (ls: string[]) => writeFileSync(path(), `${ls.join("\n")}\n`);
  const failure = () => {
    try {
      verifyAuditLog(dir);
    } catch (err) {
      return err as AuditLogError;
    }
    throw new Error("the log verified");
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "so-audit-"));
    const log = AuditLog.open(dir, "alice");
    log.append({ action: "issued", device: "aa".repeat(32), serial: "01" });
    log.append({ action: "registered", device: "aa".repeat(32), serial: "01", tx: `0x${"11".repeat(32)}` });
    // A later command opens the log again and continues the chain.
    AuditLog.open(dir, "bob").append({ action: "revoked", device: "aa".repeat(32), serial: "01" });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("verifies an untouched log, continuing across opens", () => {
    const entries = verifyAuditLog(dir);
    expect(entries.map((e) => [e.seq, e.action, e.operator])).toEqual([
      [1, "issued", "alice"],
      [2, "registered", "alice"],
      [3, "revoked", "bob"],
    ]);
    expect(entries[1]?.prev).toBe(entries[0]?.hash);
  });

  it("names the first edited line", () => {
    const ls = lines();
    ls[1] = (ls[1] as string).replace("alice", "mallory");
    write(ls);
    const err = failure();
    expect(err).toBeInstanceOf(AuditLogError);
    expect([err.code, err.line]).toEqual(["hash_mismatch", 2]);
  });

  it("detects a removed entry, a reordered one and a cut end", () => {
    const ls = lines();
    write([ls[0] as string, ls[2] as string]);
    expect([failure().code, failure().line]).toEqual(["chain_broken", 2]);
    write([ls[1] as string, ls[0] as string, ls[2] as string]);
    expect([failure().code, failure().line]).toEqual(["chain_broken", 1]);
    write([ls[0] as string, ls[1] as string]);
    expect(failure().code).toBe("truncated");
  });

  it("rehashing an edited entry still breaks the link from the next one", () => {
    const ls = lines();
    const e = JSON.parse(ls[0] as string);
    e.serial = "02";
    e.hash = "f".repeat(64);
    ls[0] = JSON.stringify(e);
    write(ls);
    expect(failure().line).toBe(1); // its own hash no longer matches its content
  });
});
