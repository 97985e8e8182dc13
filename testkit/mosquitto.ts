import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.js";
import { binary, run, type Service, stopProc } from "./process.js";

const MOSQUITTO = binary("mosquitto", ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]);

export type MosquittoParameters = {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** CN of the bridge's client certificate: may read every device's readings and write acks. */
  bridgeUser: string;
  /** The fleet CRL (Mosquitto's crlfile): revoked certificates are refused at the handshake. */
  crlPem?: string;
};

/**
 * A private Mosquitto with mTLS: require_certificate, use_identity_as_username, and a per-device
 * topic ACL (a device writes only its own readings topic and reads only its own acks topic).
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
  const acl = file(
    "acl",
    [
      `user ${p.bridgeUser}`,
      "topic read so/v1/devices/+/readings",
      "topic write so/v1/devices/+/acks",
      "",
      "pattern write so/v1/devices/%u/readings",
      "pattern read so/v1/devices/%u/acks",
      "",
    ].join("\n"),
  );
  const conf = file(
    "mosquitto.conf",
    [
      "per_listener_settings false",
      "persistence false",
      "log_dest stdout",
      "log_type error",
      "log_type warning",
      "log_type notice",
      `listener ${port} 127.0.0.1`,
      `cafile ${file("ca.pem", p.caPem)}`,
      `certfile ${file("server.pem", p.serverCertPem)}`,
      `keyfile ${file("server.key", p.serverKeyPem)}`,
      ...(p.crlPem ? [`crlfile ${file("crl.pem", p.crlPem)}`] : []),
      "require_certificate true",
      // A bridge that falls behind must not lose readings at the broker (default: 1000 queued).
      "max_queued_messages 1000000",
      // QoS 1 messages in flight to one client (default 20): the bridge's throughput is capped at
      // this many per round trip.
      "max_inflight_messages 1000",
      "use_identity_as_username true",
      "tls_version tlsv1.3",
      `acl_file ${acl}`,
      "",
    ].join("\n"),
  );
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
