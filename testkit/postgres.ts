import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { run, type Service, stopProc } from "./process.js";

/** Debian's PostgreSQL binaries: the newest version under /usr/lib/postgresql. */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no PostgreSQL under ${root} (apt-get install postgresql)`);
  return join(root, versions[0], "bin");
}

/**
 * Run as the `postgres` user when we are root (initdb and postgres refuse root). setpriv execs the
 * command in place, so the process started is postgres itself and a SIGKILL reaches it.
 */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  const { uid, gid } = postgresIds();
  return ["setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", cmd, ...args]];
}

/** The uid and gid of the `postgres` user (to chown the data folder when we are root). */
function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export type PostgresService = Service & {
  restart(opts?: { kill?: boolean }): Promise<void>;
  /** Stop the server (SIGKILL when `kill`), keeping its data, until up(). */
  down(opts?: { kill?: boolean }): Promise<void>;
  up(): Promise<void>;
};

/**
 * A private PostgreSQL on a free port in a temp folder (trust authentication for local TCP, fsync
 * on), as the `postgres` user when run as root. `url` connects as the `postgres` superuser to the
 * `postgres` database. restart() keeps the data; stop() removes it.
 */
export async function startPostgres(): Promise<PostgresService> {
  const bin = postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "so-postgres-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = asPostgres(join(bin, "initdb"), [
    "-A",
    "trust",
    "-U",
    "postgres",
    "--no-sync",
    "-D",
    data,
  ]);
  execFileSync(initCmd, initArgs, { stdio: "pipe" });
  const [cmd, args] = asPostgres(join(bin, "postgres"), [
    "-D",
    data,
    "-k",
    dir,
    "-p",
    String(port),
    "-h",
    "127.0.0.1",
    "-c",
    "fsync=on",
  ]);
  let { proc, log } = run(cmd, args);
  // The port opens before the server takes connections ("the database system is starting up"):
  // callers retry, as the bridge does.
  await waitForPort(port, proc, log, 30_000);
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    log: () => log(),
    async down(opts = {}) {
      if (opts.kill) {
        await new Promise<void>((resolve) => {
          proc.once("exit", () => resolve());
          proc.kill("SIGKILL");
        });
        await portClosed(port);
      } else await stopProc(proc);
    },
    async up() {
      ({ proc, log } = run(cmd, args));
      await waitForPort(port, proc, log, 30_000);
    },
    async restart(opts = {}) {
      if (opts.kill) {
        await new Promise<void>((resolve) => {
          proc.once("exit", () => resolve());
          // postgres recovers from its WAL on the next start.
          proc.kill("SIGKILL");
        });
        // The postmaster's backends exit on their own once it is gone: wait for the port to close.
        await portClosed(port);
      } else await stopProc(proc);
      ({ proc, log } = run(cmd, args));
      await waitForPort(port, proc, log, 30_000);
    },
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function portClosed(port: number, timeoutMs = 15_000): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
