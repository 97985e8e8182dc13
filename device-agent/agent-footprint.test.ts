import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// The device agent runs on small gateways (goal: 80 MB of RSS with a 100,000-reading backlog).
// viem (about 30 MB), the Merkle tree and hash-wasm (about 10 MB) are the bridge's: the agent's
// modules import the protocol's modules one by one, never its index (docs/BENCHMARKS.md).
describe("the device agent's module graph", () => {
  it("does not load viem, @openzeppelin/merkle-tree or hash-wasm", () => {
    const script = `
      import { registerHooks } from "node:module";
      const seen = new Set();
      registerHooks({ resolve(s, c, next) { const r = next(s, c); const m = /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
      await import("./device-agent/agent.ts");
      await import("./device-agent/signer.ts");
      console.log(JSON.stringify([...seen]));`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const packages = JSON.parse(r.stdout.trim().split("\n").pop() as string) as string[];
    expect(packages).toContain("mqtt"); // the hook sees the agent's packages
    for (const heavy of ["viem", "@openzeppelin/merkle-tree", "hash-wasm"])
      expect(packages).not.toContain(heavy);
  });
});
