import "reflect-metadata";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetCertificates } from "../../bridge/certificates.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { ReadingRejectedError } from "../../protocol/index.js";
import { startMosquitto } from "../../testkit/mosquitto.js";
import type { Service } from "../../testkit/process.js";

describe("fleet PKI: offline root, issuing CA, CRL at the broker and at the bridge", () => {
  let ca: FleetCa;
  let revoked: IssuedDevice;
  let good: IssuedDevice;
  let broker: Service;
  let dir: string;

  beforeAll(async () => {
    ca = await createFleetCa({ commonName: "acme" });
    revoked = await ca.issueDevice({ curve: "p256" });
    good = await ca.issueDevice({ curve: "secp256k1" });
    ca.revoke(revoked.certPem);
    const server = await ca.issueServer({ commonName: "localhost" });
    broker = await startMosquitto({
      caPem: ca.certPem,
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      bridgeUser: "sensor-oracle-bridge",
      crlPem: await ca.crlPem(),
    });
    dir = mkdtempSync(join(tmpdir(), "so-pki-"));
  });

  afterAll(async () => {
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const connect = (d: IssuedDevice) =>
    mqtt.connectAsync(broker.url, {
      ca: ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 5,
    });

  it("makes Mosquitto refuse a revoked certificate at the handshake and accept a valid one", async () => {
    await expect(connect(revoked)).rejects.toMatchObject({
      code: "ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REVOKED",
    });
    const c = await connect(good);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it("makes the bridge refuse a device revoked while connected, following the CRL file", async () => {
    const certs = new FleetCertificates(ca.certPem);
    certs.add(good.certPem);
    const crlFile = join(dir, "crl.pem");
    writeFileSync(crlFile, await ca.crlPem());
    const errors: unknown[] = [];
    const stop = certs.followCrlFile(crlFile, (e) => errors.push(e), 100);
    try {
      await expect(certs.resolve(good.name)).resolves.toMatchObject({ name: good.name });
      ca.revoke(good.certPem);
      writeFileSync(crlFile, await ca.crlPem());
      const revokedAt = Date.now();
      await expect
        .poll(
          () =>
            certs.resolve(good.name).then(
              () => "accepted",
              (e: unknown) => (e instanceof ReadingRejectedError ? e.reason : String(e)),
            ),
          { timeout: 5_000, interval: 100 },
        )
        .toBe("revoked");
      expect(Date.now() - revokedAt).toBeLessThan(5_000);
      expect(errors).toEqual([]);
    } finally {
      stop();
    }
  });

  it("refuses a CRL that another CA signed", async () => {
    const other = await createFleetCa({ commonName: "other" });
    const certs = new FleetCertificates(ca.certPem);
    await expect(certs.setCrl(await other.crlPem())).rejects.toThrow(/not signed by a fleet CA/);
  });
});
