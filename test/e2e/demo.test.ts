import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("npm run demo (the embedded demo)", () => {
  it("runs every layer and ends on its own with a one-line summary", async () => {
    const { stdout } = await run("npx", ["tsx", "testkit/demo.ts"], {
      env: { ...process.env, DEMO_ROUNDS: "3", REDIS_URL: "" },
      timeout: 120_000,
    });
    const lines = stdout.trim().split("\n");
    expect(stdout).toContain("NOT DURABLE");
    expect(stdout).toMatch(/batch\s+committed \d+ readings/);
    expect(stdout).toMatch(/REJECTED\s+device .* bad_signature/);
    expect(stdout).toMatch(/verified\s+ColdChainMonitor took reading/);
    expect(lines.at(-1)).toMatch(
      /^demo done: 9 published, 9 accepted, 1 rejected, 9 committed in \d+ batches, 1 verified on-chain by a consumer contract, in [\d.]+ s \(in-memory store\)$/,
    );
  });
});
