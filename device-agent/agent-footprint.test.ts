import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// The device agent runs on small gateways (goal: 80 MB of RSS with a 100,000-reading backlog).
// viem (about 30 MB), the Merkle tree and hash-wasm (about 10 MB) are the bridge's: the agent's
// modules import the protocol's modules one by one, never its index (docs/BENCHMARKS.md).
// @peculiar/x509 (its ASN.1 schemas, reflect-metadata, tsyringe), @noble/curves and the secp256k1
// binding are the fleet's tools' and the bridge's: the agent reads its certificate and its
// software key, and signs P-256, with node:crypto; pkcs11js is loaded only for a token.

/** The packages (node_modules) a fresh process loads when it imports `modules` (sources, tsx). */
function packagesLoadedBy(modules: string[]): string[] {
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({ resolve(s, c, next) { const r = next(s, c); const m = /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
    for (const m of ${JSON.stringify(modules)}) await import(m);
    console.log(JSON.stringify([...seen]));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop() as string) as string[];
}

describe("the device agent's module graph", () => {
  it("does not load viem, @openzeppelin/merkle-tree, hash-wasm, @peculiar/x509 or @noble/curves", () => {
    const packages = packagesLoadedBy(["./device-agent/agent.ts", "./device-agent/signer.ts"]);
    expect(packages).toContain("mqtt"); // the hook sees the agent's packages
    for (const heavy of [
      "viem",
      "@openzeppelin/merkle-tree",
      "hash-wasm",
      "@peculiar/x509",
      "@noble/curves",
      "secp256k1",
    ])
      expect(packages).not.toContain(heavy);
  });

  it("agent run (cli/commands/agent.ts) loads neither @peculiar/x509 nor, before it meets a token, pkcs11js", () => {
    const packages = packagesLoadedBy(["./cli/commands/agent.ts", "./device-agent/certificate-expiry.ts"]);
    expect(packages).toContain("pino");
    for (const heavy of [
      "viem",
      "@peculiar/x509",
      "reflect-metadata",
      "pkcs11js",
      "@noble/curves",
      "secp256k1",
    ])
      expect(packages).not.toContain(heavy);
  });
});
