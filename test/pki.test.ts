import "reflect-metadata";
import { webcrypto, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetCertificates, parseDeviceCertificate } from "../bridge/certificates.js";
import { createDeviceCsr, softwareCsrKey } from "../device-agent/csr.js";
import { CertificateRequestError } from "../pki/errors.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import { deviceIdOf, publicKeyOf, ReadingRejectedError, randomSecretKey } from "../protocol/index.js";
import { startMosquitto } from "../testkit/mosquitto.js";
import type { Service } from "../testkit/process.js";

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

  it("issues from an intermediate that chains to a self-signed root", async () => {
    const root = new X509Certificate(ca.rootPem);
    const issuing = new X509Certificate(ca.intermediatePem);
    const leaf = new X509Certificate(good.certPem);
    expect(root.checkIssued(root)).toBe(true);
    expect(issuing.checkIssued(root) && issuing.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(issuing) && leaf.verify(issuing.publicKey)).toBe(true);
    expect(leaf.checkIssued(root)).toBe(false);
    expect(issuing.ca && root.ca && !leaf.ca).toBe(true);
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

  it("certifies a device from its CSR, and refuses a tampered, foreign-key or misnamed request with a typed error", async () => {
    // A secp256k1 device: the CSR is signed by its P-256 TLS key and names its reading key.
    const tlsSecret = randomSecretKey("p256");
    const readingSecret = randomSecretKey("secp256k1");
    const readingPublicKey = publicKeyOf("secp256k1", readingSecret);
    const csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve: "secp256k1",
      readingPublicKey,
    });
    expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const issued = await ca.issueDeviceFromCsr(csr, { curve: "secp256k1" });
    expect(issued.deviceId).toBe(deviceIdOf("secp256k1", readingPublicKey));
    const dc = parseDeviceCertificate(issued.certPem);
    expect(dc).toMatchObject({ name: issued.name, curve: "secp256k1" });
    expect(Buffer.from(dc.readingPublicKey)).toEqual(Buffer.from(readingPublicKey));
    const spki = new X509Certificate(issued.certPem).publicKey.export({ type: "spki", format: "der" });
    expect(spki.subarray(-65)).toEqual(Buffer.from(publicKeyOf("p256", tlsSecret)));

    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => "issued",
        (e: unknown) => (e instanceof CertificateRequestError ? e.code : String(e)),
      );
    // One bit of the signature flipped: the request no longer verifies under its own key.
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ""), "base64");
    der[der.length - 1] = (der[der.length - 1] as number) ^ 1;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----`;
    expect(await refusal(ca.issueDeviceFromCsr(tampered, { curve: "secp256k1" }))).toBe("bad_signature");
    expect(await refusal(ca.issueDeviceFromCsr("not a csr", { curve: "p256" }))).toBe("malformed");
    // A P-256 request presented as a secp256k1 device's: no reading key named.
    const p256Csr = await createDeviceCsr({ tlsKey: softwareCsrKey(tlsSecret), curve: "p256" });
    expect(await refusal(ca.issueDeviceFromCsr(p256Csr, { curve: "secp256k1" }))).toBe("reading_key_missing");
    // A request for another device's name than its key gives, unless rotating that very device.
    const misnamed = await createDeviceCsr({
      tlsKey: softwareCsrKey(randomSecretKey("p256")),
      curve: "p256",
      deviceName: good.name,
    });
    expect(await refusal(ca.issueDeviceFromCsr(misnamed, { curve: "p256" }))).toBe("name_mismatch");
    const rotated = await ca.issueDeviceFromCsr(misnamed, { curve: "p256", deviceId: good.deviceId });
    expect(rotated.name).toBe(good.name);
    // A P-384 key: a device's TLS key is P-256.
    const p384 = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const foreign = await x509.Pkcs10CertificateRequestGenerator.create(
      { name: `CN=${good.name}`, keys: p384, signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } },
      webcrypto as unknown as Crypto,
    );
    expect(await refusal(ca.issueDeviceFromCsr(foreign.toString("pem"), { curve: "p256" }))).toBe(
      "wrong_key",
    );
  });
});
