import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TokenError } from "./errors.js";

/**
 * Where the OpenSSL pkcs11 engine (libp11: Debian's libengine-pkcs11-openssl, Fedora's
 * openssl-pkcs11) is on this machine, so that TLS keys in a token work on an x86_64 server, a
 * Raspberry Pi (aarch64 or armhf) or another gateway without a path written into each config.
 * A configured path wins. Otherwise, in order: the engines folder OpenSSL reports
 * (`openssl version -e`), then /usr/lib/<multiarch>/engines-3 for this machine's architecture,
 * then the other usual engines-3 folders; in each, pkcs11.so then libpkcs11.so.
 *
 * Node 22 carries OpenSSL 3, which cannot load an engine built for OpenSSL 1.1: the engines-1.1
 * folders are looked at only to say so.
 */

/** Debian's multiarch triplet for each Node architecture (process.arch). */
export const MULTIARCH: Readonly<Record<string, string>> = {
  x64: "x86_64-linux-gnu",
  arm64: "aarch64-linux-gnu",
  arm: "arm-linux-gnueabihf",
  ia32: "i386-linux-gnu",
  riscv64: "riscv64-linux-gnu",
  ppc64: "powerpc64le-linux-gnu",
  s390x: "s390x-linux-gnu",
};

const ENGINE_FILES = ["pkcs11.so", "libpkcs11.so"];

export type FindPkcs11EngineParameters = {
  /** The engine path from the agent config: used as it is, never replaced by another. */
  configured?: string | undefined;
  /** Default process.arch. */
  arch?: string;
  /** The engines folder OpenSSL reports; default asked from `openssl version -e`, null not to ask. */
  opensslEnginesDir?: string | null;
  /** The OpenSSL version Node carries; default process.versions.openssl. */
  nodeOpenssl?: string;
  /** Put in front of every path looked at (tests). Default "". */
  root?: string;
};

/** The folders looked in, in order, for this architecture (engines-1.1 ones last, flagged). */
export function pkcs11EngineFolders(
  p: FindPkcs11EngineParameters = {},
): { dir: string; openssl11: boolean }[] {
  const arch = p.arch ?? process.arch;
  const triplet = MULTIARCH[arch];
  const reported = p.opensslEnginesDir === undefined ? opensslEnginesDir() : p.opensslEnginesDir;
  const v3 = [
    ...(reported ? [reported] : []),
    ...(triplet ? [`/usr/lib/${triplet}/engines-3`] : []),
    "/usr/lib64/engines-3",
    "/usr/lib/engines-3",
    "/usr/local/lib/engines-3",
    "/usr/local/lib64/engines-3",
  ];
  const v11 = [
    ...(triplet ? [`/usr/lib/${triplet}/engines-1.1`] : []),
    "/usr/lib64/engines-1.1",
    "/usr/lib/engines-1.1",
  ];
  const seen = new Set<string>();
  const out: { dir: string; openssl11: boolean }[] = [];
  for (const dir of [...v3, ...v11]) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    out.push({ dir, openssl11: /engines-1\.1\/?$/.test(dir) });
  }
  return out;
}

/**
 * The path of the pkcs11 engine for this machine. Throws TokenError `engine_missing` naming the
 * configured path, or every place looked at and the package to install.
 */
export function findPkcs11Engine(p: FindPkcs11EngineParameters = {}): string {
  const root = p.root ?? "";
  if (p.configured) {
    if (existsSync(join(root, p.configured))) return join(root, p.configured);
    throw new TokenError("engine_missing", "The configured OpenSSL pkcs11 engine is not there.", {
      details: `${p.configured} not found (token.engine in the agent config): fix the path, or remove it to have the engine looked up`,
    });
  }
  const nodeOpenssl = p.nodeOpenssl ?? process.versions.openssl ?? "";
  const looked: string[] = [];
  let only11: string | undefined;
  for (const { dir, openssl11 } of pkcs11EngineFolders(p)) {
    for (const file of ENGINE_FILES) {
      const path = join(root, dir, file);
      looked.push(join(dir, file));
      if (!existsSync(path)) continue;
      if (openssl11 && !nodeOpenssl.startsWith("1.")) {
        only11 ??= path;
        continue;
      }
      return path;
    }
  }
  const arch = p.arch ?? process.arch;
  if (only11)
    throw new TokenError("engine_missing", "Only an OpenSSL 1.1 pkcs11 engine is installed.", {
      details: `${only11} is for OpenSSL 1.1; Node uses OpenSSL ${nodeOpenssl}: install the OpenSSL 3 engine (libengine-pkcs11-openssl on Debian 12 / Raspberry Pi OS bookworm or later) or set token.engine`,
    });
  throw new TokenError("engine_missing", "The OpenSSL pkcs11 engine is not installed.", {
    details: `looked for ${arch} in ${looked.join(", ")}: install libengine-pkcs11-openssl (Debian, Ubuntu, Raspberry Pi OS), openssl-pkcs11 (Fedora) or libp11, or set token.engine in the agent config`,
  });
}

/** The engines folder the machine's OpenSSL reports (`openssl version -e`), or null without one. */
export function opensslEnginesDir(): string | null {
  try {
    const out = execFileSync("openssl", ["version", "-e"], {
      encoding: "utf8",
      timeout: 5_000,
      stdio: "pipe",
    });
    const m = /ENGINESDIR:\s*"([^"]+)"/.exec(out);
    return m?.[1] ?? null;
  } catch {
    return null;
  }
}
