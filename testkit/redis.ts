import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { binary, run, type Service, stopProc } from "./process.js";

const REDIS_SERVER = binary("redis-server", ["/usr/bin/redis-server", "/usr/sbin/redis-server"]);

export type StartRedisParameters = {
  /** More redis-server arguments, after (and so overriding) the defaults, e.g. ["--appendonly", "no"]. */
  args?: string[];
  /** TLS only (port 0, tls-port), client certificates required; `url` is then rediss://. */
  tls?: { caPem: string; certPem: string; keyPem: string };
};

/** A private redis-server on a free port, with an append-only file synced on every write. */
export async function startRedis(p: StartRedisParameters = {}): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "so-redis-"));
  const tlsFile = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body, { mode: 0o600 });
    return path;
  };
  const listen = p.tls
    ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        tlsFile("server.pem", p.tls.certPem),
        "--tls-key-file",
        tlsFile("server.key", p.tls.keyPem),
        "--tls-ca-cert-file",
        tlsFile("ca.pem", p.tls.caPem),
        "--tls-auth-clients",
        "yes",
      ]
    : ["--port", String(port)];
  const args = [
    ...listen,
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
    ...(p.args ?? []),
  ];
  let { proc, log } = run(REDIS_SERVER, args);
  await waitForPort(port, proc, log);
  return {
    port,
    url: `${p.tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
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
