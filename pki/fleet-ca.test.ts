import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import {
  createFleetCa,
  FLEET_CA_FILES,
  type FleetCa,
  type IssuedDevice,
  loadFleetCa,
  saveFleetCa,
} from "./fleet-ca.js";

describe("fleet CA: offline root, issuing CA, device certificates", () => {
  let ca: FleetCa;
  let good: IssuedDevice;

  beforeAll(async () => {
    ca = await createFleetCa({ commonName: "acme" });
    good = await ca.issueDevice({ curve: "secp256k1" });
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

  it("saves and loads the issuing CA without the root key, keeping keys owner-only and revocations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "so-ca-"));
    try {
      ca.revoke(good.certPem);
      await saveFleetCa(ca, dir, { rootPassphrase: "correct horse battery staple" });
      expect(statSync(join(dir, FLEET_CA_FILES.issuingKey)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, FLEET_CA_FILES.rootKey)).mode & 0o777).toBe(0o600);
      rmSync(join(dir, FLEET_CA_FILES.rootKey)); // the root key kept offline
      const loaded = await loadFleetCa(dir);
      expect(loaded.certPem).toBe(ca.certPem);
      const issued = await loaded.issueDevice({ curve: "p256" });
      expect(
        new X509Certificate(issued.certPem).verify(new X509Certificate(ca.intermediatePem).publicKey),
      ).toBe(true);
      expect(parseDeviceCertificate(issued.certPem)).toMatchObject({ name: issued.name, curve: "p256" });
      const crl = await loaded.crlPem();
      expect(crl).toMatch(/^-----BEGIN X509 CRL-----/);
      // The revocation survives the round trip.
      const serials = new x509.X509Crl(crl).entries.map((e) => e.serialNumber);
      expect(serials).toEqual([new X509Certificate(good.certPem).serialNumber.toLowerCase()]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the root key encrypted, opens it only with its passphrase, and renews the issuing CA with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "so-ca-"));
    const saved = process.env.SO_CA_PASSPHRASE;
    try {
      delete process.env.SO_CA_PASSPHRASE;
      await expect(saveFleetCa(ca, dir)).rejects.toMatchObject({
        name: "KeyFileError",
        code: "passphrase_missing",
      });
      await saveFleetCa(ca, dir, { rootPassphrase: "s3cret phrase" });
      const rootKey = readFileSync(join(dir, FLEET_CA_FILES.rootKey), "utf8");
      expect(rootKey).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
      await expect(loadFleetCa(dir, { rootPassphrase: "wrong" })).rejects.toMatchObject({
        name: "KeyFileError",
        code: "passphrase_wrong",
      });
      const withRoot = await loadFleetCa(dir, { rootPassphrase: "s3cret phrase" });
      const renewed = await withRoot.renewIssuingCa();
      expect(renewed.intermediatePem).not.toBe(ca.intermediatePem);
      const issuing = new X509Certificate(renewed.intermediatePem);
      expect(issuing.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(true);
      // Without the passphrase the fleet works on, but cannot make an issuing CA.
      await expect((await loadFleetCa(dir)).renewIssuingCa()).rejects.toMatchObject({
        code: "passphrase_missing",
      });
    } finally {
      if (saved !== undefined) process.env.SO_CA_PASSPHRASE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an issuing key file that group or others can read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "so-ca-"));
    try {
      await saveFleetCa(ca, dir, { rootPassphrase: "p" });
      chmodSync(join(dir, FLEET_CA_FILES.issuingKey), 0o640);
      await expect(loadFleetCa(dir)).rejects.toMatchObject({ name: "KeyFileError", code: "exposed" });
      chmodSync(join(dir, FLEET_CA_FILES.issuingKey), 0o600);
      await expect(loadFleetCa(dir)).resolves.toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
