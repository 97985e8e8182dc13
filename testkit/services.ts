import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mosquittoConfig } from "../pki/mosquitto-config.js";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(
  port: number,
  proc: ChildProcess,
  log: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open: ${log()}`);
}

// Debian installs these under sbin/bin folders that a non-login PATH may lack.
const binary = (name: string, paths: string[]) => paths.find((p) => existsSync(p)) ?? name;
const REDIS_SERVER = binary("redis-server", ["/usr/bin/redis-server", "/usr/sbin/redis-server"]);
const MOSQUITTO = binary("mosquitto", ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]);

export type Service = {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
  log(): string;
  /** Stop the server (SIGKILL when `kill`) and start it again on the same port with the same data. */
  restart?(opts?: { kill?: boolean }): Promise<void>;
};

function run(cmd: string, args: string[]): { proc: ChildProcess; log: () => string } {
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

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
    setTimeout(() => proc.kill("SIGKILL"), 3000).unref();
  });
}

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

export type MosquittoParameters = {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** CN of each bridge's client certificate: may read every device's readings and write acks. */
  bridgeUser: string | string[];
  /** The fleet CRL (Mosquitto's crlfile): revoked certificates are refused at the handshake. */
  crlPem?: string;
};

/**
 * A private Mosquitto with the generated fleet configuration (pki/mosquitto-config.ts): mTLS,
 * require_certificate, use_identity_as_username, and a per-device topic ACL (a device writes only
 * its own readings topic and reads only its own acks topic).
 */
export async function startMosquitto(p: MosquittoParameters): Promise<Service> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "so-mosquitto-"));
  // Mosquitto started as root drops to user 'mosquitto': its files must be readable by it.
  chmodSync(dir, 0o755);
  const file = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    chmodSync(path, 0o644);
    return path;
  };
  // The configuration users get from `sensor-oracle broker config`, bound to 127.0.0.1, logging to stdout.
  const { conf: confText, acl: aclText } = mosquittoConfig({
    port,
    bindAddress: "127.0.0.1",
    files: {
      cafile: file("ca.pem", p.caPem),
      certfile: file("server.pem", p.serverCertPem),
      keyfile: file("server.key", p.serverKeyPem),
      ...(p.crlPem ? { crlfile: file("crl.pem", p.crlPem) } : {}),
      aclFile: join(dir, "acl"),
    },
    bridgeUsers: [p.bridgeUser].flat(),
    logToStdout: true,
  });
  file("acl", aclText);
  const conf = file("mosquitto.conf", confText);
  const { proc, log } = run(MOSQUITTO, ["-c", conf]);
  await waitForPort(port, proc, log);
  return {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    dir,
    log,
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
