import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mosquittoConfig } from "../pki/mosquitto-config.js";
import { freePort, waitForPort } from "./ports.js";
import { binary, run, type Service, stopProc } from "./process.js";

const MOSQUITTO = binary("mosquitto", ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]);

export type MosquittoParameters = {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** CN of each bridge's client certificate: may read every device's readings and write acks. */
  bridgeUser: string | string[];
  /** The fleet CRL (Mosquitto's crlfile): revoked certificates are refused at the handshake. */
  crlPem?: string;
  /** Mosquitto's max_connections (the generated config's default: 10,000). */
  maxConnections?: number;
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
    ...(p.maxConnections === undefined ? {} : { maxConnections: p.maxConnections }),
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
