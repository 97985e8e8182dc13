import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { binary, run, type Service, stopProc } from "./process.js";

const REDIS_SERVER = binary("redis-server", ["/usr/bin/redis-server", "/usr/sbin/redis-server"]);

/** A private redis-server on a free port, with an append-only file synced on every write. */
export async function startRedis(): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "so-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--dir",
    dir,
  ];
  let { proc, log } = run(REDIS_SERVER, args);
  await waitForPort(port, proc, log);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    log: () => log(),
    async restart(opts = {}) {
      if (opts.kill) {
        await new Promise<void>((resolve) => {
          proc.once("exit", () => resolve());
          proc.kill("SIGKILL");
        });
      } else await stopProc(proc);
      ({ proc, log } = run(REDIS_SERVER, args));
      await waitForPort(port, proc, log);
    },
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
