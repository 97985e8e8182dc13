import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** A server process started for a test, a benchmark or the demo, on its own port and folder. */
export type Service = {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
  log(): string;
  /** Stop the server (SIGKILL when `kill`) and start it again on the same port with the same data. */
  restart?(opts?: { kill?: boolean }): Promise<void>;
};

/**
 * The first of `paths` that exists, else `name` (looked up on PATH): Debian installs servers under
 * sbin/bin folders that a non-login PATH may lack.
 */
export const binary = (name: string, paths: string[]) => paths.find((p) => existsSync(p)) ?? name;

/** Start `cmd`, collecting its stdout and stderr for error messages. */
export function run(cmd: string, args: string[]): { proc: ChildProcess; log: () => string } {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d) => {
    out += d;
  });
  return { proc, log: () => out };
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. */
export async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
    setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
  });
}
