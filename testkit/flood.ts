import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import type { DeviceAgent } from "../device-agent/agent.js";
import type { FloodJob } from "./flood-publisher.js";

export type Flood = {
  /** Start publishing; resolves when all messages were written (or the broker dropped the client). */
  go(): Promise<{ sent: number; ms: number }>;
  stop(): void;
};

/** A flooding device in its own process (testkit/flood-publisher.ts), ready to go. */
export async function prepareFlood(dir: string, job: FloodJob): Promise<Flood> {
  const file = join(dir, `flood-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(job), { mode: 0o600 });
  const proc = spawn(process.execPath, ["--import", "tsx", "testkit/flood-publisher.ts", file], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  const lines: ((line: string) => void)[] = [];
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    for (const l of [...lines]) l(out);
  });
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = (s: string) => {
        const m = re.exec(s);
        if (m) resolve(m);
      };
      lines.push(check);
      check(out);
      proc.once("exit", (code) => {
        const m = re.exec(out);
        if (m) resolve(m);
        else reject(new Error(`flood publisher exited (${code}) before ${re}`));
      });
    });
  await waitFor(/ready/);
  return {
    async go() {
      proc.stdin?.write("go\n");
      const m = await waitFor(/published (\d+) (\d+)/);
      return { sent: Number(m[1]), ms: Number(m[2]) };
    },
    stop: () => proc.kill("SIGKILL"),
  };
}

/**
 * A well-behaved device's ack latency while something else goes on: publishes a reading every
 * `intervalMs` until `until` settles, and returns each reading's time from publish to `queued`.
 */
export async function ackLatencies(
  agent: DeviceAgent,
  feedId: Hex,
  intervalMs: number,
  until: Promise<unknown>,
): Promise<{ latencies: number[]; notQueued: number }> {
  let running = true;
  void until.finally(() => {
    running = false;
  });
  const pending: Promise<number | null>[] = [];
  let value = 0n;
  while (running) {
    const t0 = performance.now();
    value += 1n;
    const seq = await agent.publish(feedId, value);
    pending.push(
      agent.waitForAck(seq, 30_000).then(
        (o) => (o.status === "queued" ? performance.now() - t0 : null),
        () => null,
      ),
    );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const all = await Promise.all(pending);
  const latencies = all.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return { latencies, notQueued: all.length - latencies.length };
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
