import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findPkcs11Engine, opensslEnginesDir, pkcs11EngineFolders } from "./engine.js";
import { TokenError } from "./errors.js";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A machine's file system under a temporary root with these engine files. */
function machine(...files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), "so-engine-"));
  roots.push(root);
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), "");
  }
  return root;
}

function engineError(fn: () => unknown): TokenError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenError) return err;
    throw err;
  }
  throw new Error("expected a TokenError");
}

describe("the OpenSSL pkcs11 engine for this machine", () => {
  it("finds Debian's engine for each gateway architecture in its multiarch engines-3 folder", () => {
    const cases: [string, string][] = [
      ["x64", "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"],
      ["arm64", "/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so"],
      ["arm", "/usr/lib/arm-linux-gnueabihf/engines-3/libpkcs11.so"],
    ];
    for (const [arch, file] of cases) {
      const root = machine(file);
      expect(findPkcs11Engine({ arch, root, opensslEnginesDir: null })).toBe(join(root, file));
    }
  });

  it("does not take another architecture's engine", () => {
    const root = machine("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so");
    const err = engineError(() => findPkcs11Engine({ arch: "arm64", root, opensslEnginesDir: null }));
    expect(err.code).toBe("engine_missing");
    expect(err.details).toContain("/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so");
    expect(err.details).not.toContain("x86_64");
  });

  it("looks first where OpenSSL says its engines are, then the usual folders", () => {
    const root = machine("/opt/openssl/engines-3/pkcs11.so", "/usr/lib64/engines-3/pkcs11.so");
    expect(findPkcs11Engine({ arch: "arm64", root, opensslEnginesDir: "/opt/openssl/engines-3" })).toBe(
      join(root, "/opt/openssl/engines-3/pkcs11.so"),
    );
    expect(findPkcs11Engine({ arch: "arm64", root, opensslEnginesDir: null })).toBe(
      join(root, "/usr/lib64/engines-3/pkcs11.so"),
    );
    expect(pkcs11EngineFolders({ arch: "arm64", opensslEnginesDir: "/opt/x" }).map((f) => f.dir)).toEqual([
      "/opt/x",
      "/usr/lib/aarch64-linux-gnu/engines-3",
      "/usr/lib64/engines-3",
      "/usr/lib/engines-3",
      "/usr/local/lib/engines-3",
      "/usr/local/lib64/engines-3",
      "/usr/lib/aarch64-linux-gnu/engines-1.1",
      "/usr/lib64/engines-1.1",
      "/usr/lib/engines-1.1",
    ]);
  });

  it("uses a configured path as it is, and refuses a configured path that is not there", () => {
    const root = machine("/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so", "/opt/p11/pkcs11.so");
    expect(
      findPkcs11Engine({ arch: "arm64", root, configured: "/opt/p11/pkcs11.so", opensslEnginesDir: null }),
    ).toBe(join(root, "/opt/p11/pkcs11.so"));
    const err = engineError(() =>
      findPkcs11Engine({ arch: "arm64", root, configured: "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so" }),
    );
    expect(err.code).toBe("engine_missing");
    expect(err.details).toContain("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so not found");
  });

  it("says so when only an OpenSSL 1.1 engine is installed, which Node's OpenSSL 3 cannot load", () => {
    const root = machine("/usr/lib/arm-linux-gnueabihf/engines-1.1/pkcs11.so");
    const err = engineError(() =>
      findPkcs11Engine({ arch: "arm", root, opensslEnginesDir: null, nodeOpenssl: "3.0.15" }),
    );
    expect(err.shortMessage).toMatch(/OpenSSL 1\.1/);
    expect(findPkcs11Engine({ arch: "arm", root, opensslEnginesDir: null, nodeOpenssl: "1.1.1w" })).toBe(
      join(root, "/usr/lib/arm-linux-gnueabihf/engines-1.1/pkcs11.so"),
    );
  });

  it("lists every place it looked and what to install when there is none", () => {
    const root = machine();
    const err = engineError(() => findPkcs11Engine({ arch: "arm64", root, opensslEnginesDir: null }));
    expect(err.details).toMatch(
      /^looked for arm64 in \/usr\/lib\/aarch64-linux-gnu\/engines-3\/pkcs11\.so, /,
    );
    expect(err.details).toContain("libengine-pkcs11-openssl");
  });

  it("finds the engine Debian's libengine-pkcs11-openssl installed here, in the folder openssl version -e names", () => {
    const reported = opensslEnginesDir();
    expect(reported).toBe(
      /ENGINESDIR: "([^"]+)"/.exec(execFileSync("openssl", ["version", "-e"], { encoding: "utf8" }))?.[1],
    );
    const found = findPkcs11Engine();
    expect(existsSync(found)).toBe(true);
    expect(dirname(found)).toBe(reported);
  });
});
