import "reflect-metadata";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { startMosquitto } from "../../testkit/mosquitto.js";
import type { Service } from "../../testkit/process.js";

// What the generated mosquitto.conf says of crlfile (pki/mosquitto-config.ts): read at start and
// on SIGHUP, checked at each handshake.
describe("Mosquitto's crlfile, as the generated configuration describes it", () => {
  let ca: FleetCa;
  let device: IssuedDevice;
  let broker: Service;

  beforeAll(async () => {
    ca = await createFleetCa({ commonName: "crl reload" });
    device = await ca.issueDevice({ curve: "p256" });
    const server = await ca.issueServer({ commonName: "localhost" });
    broker = await startMosquitto({
      caPem: ca.certPem,
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      bridgeUser: "sensor-oracle-bridge",
      crlPem: await ca.crlPem(),
    });
  });

  afterAll(async () => {
    await broker?.stop();
  });

  const handshake = async (): Promise<string> => {
    try {
      const c = await mqtt.connectAsync(broker.url, {
        ca: ca.certPem,
        cert: device.certPem,
        key: device.keyPem,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        protocolVersion: 5,
      });
      await c.endAsync();
      return "connected";
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };

  it("reads a rewritten CRL on SIGHUP, not before, and says so in the file's comment", async () => {
    const confPath = join(broker.dir, "mosquitto.conf");
    const conf = readFileSync(confPath, "utf8");
    expect(conf).toContain(`# crlfile ${join(broker.dir, "crl.pem")}: the fleet CRL`);
    expect(conf).toMatch(/reads it at start and on SIGHUP/);

    expect(await handshake()).toBe("connected");
    ca.revoke(device.certPem);
    writeFileSync(join(broker.dir, "crl.pem"), await ca.crlPem());
    expect(await handshake()).toBe("connected"); // the file changed, Mosquitto has not read it

    // This test's own Mosquitto, found by its configuration file's unique path.
    const pid = Number(execFileSync("pgrep", ["-f", confPath]).toString().trim().split("\n")[0]);
    process.kill(pid, "SIGHUP");
    const deadline = Date.now() + 10_000;
    let outcome = await handshake();
    while (outcome === "connected" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      outcome = await handshake();
    }
    expect(outcome).toBe("ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REVOKED");
  });
});
