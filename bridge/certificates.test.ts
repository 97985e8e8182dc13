import "reflect-metadata";
import { mkdtempSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import {
  certificateFingerprint,
  FleetCertificates,
  packHex,
  parseDeviceCertificate,
  unpackHex,
} from "./certificates.js";

const N = 2_000;

describe("FleetCertificates: incremental folder scans", () => {
  let ca: FleetCa;
  let dir: string;
  let devices: IssuedDevice[];
  let extra: IssuedDevice[];

  beforeAll(async () => {
    ca = await createFleetCa();
    dir = mkdtempSync(join(tmpdir(), "so-certs-"));
    devices = [];
    for (let i = 0; i < N; i++) devices.push(await ca.issueDevice({ curve: "p256" }));
    extra = [await ca.issueDevice({ curve: "p256" }), await ca.issueDevice({ curve: "secp256k1" })];
    for (const d of devices) writeFileSync(join(dir, `${d.name}.pem`), d.certPem);
    writeFileSync(join(dir, "README.txt"), "not a certificate");
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`parses ${N} certificates once; a rescan with no change parses none; changes, additions and removals are picked up`, async () => {
    const certs = new FleetCertificates(ca.certPem);
    const first = certs.scanDirectory(dir, { full: true });
    expect(first).toMatchObject({ files: N, parsed: N, removed: 0, failed: [] });
    expect(certs.parses).toBe(N);
    expect(certs.size).toBe(N);

    // No change: a full scan only stats the files, a quick scan does not even list the folder.
    expect(certs.scanDirectory(dir, { full: true })).toMatchObject({ files: N, parsed: 0, removed: 0 });
    expect(certs.scanDirectory(dir)).toMatchObject({ skipped: true, parsed: 0 });
    expect(certs.parses).toBe(N);

    // One file rewritten in place with another device's certificate, one added (written then
    // renamed in, as enrolment tools do), one removed.
    const [changed, removed, kept] = devices as [IssuedDevice, IssuedDevice, IssuedDevice];
    const [replacement, added] = extra as [IssuedDevice, IssuedDevice];
    writeFileSync(join(dir, `${changed.name}.pem`), replacement.certPem);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(dir, `${changed.name}.pem`), later, later);
    writeFileSync(join(dir, "incoming.tmp"), added.certPem);
    renameSync(join(dir, "incoming.tmp"), join(dir, `${added.name}.pem`));
    unlinkSync(join(dir, `${removed.name}.pem`));

    const quick = certs.scanDirectory(dir);
    expect(quick).toMatchObject({ skipped: false, files: N, parsed: 2, removed: 1, failed: [] });
    expect(certs.parses).toBe(N + 2);
    expect(certs.size).toBe(N); // -changed -removed +replacement +added

    await expect(certs.resolve(removed.name)).rejects.toMatchObject({ reason: "no_certificate" });
    await expect(certs.resolve(changed.name)).rejects.toMatchObject({ reason: "no_certificate" });
    expect((await certs.resolve(replacement.name)).name).toBe(replacement.name);
    expect((await certs.resolve(added.name)).curve).toBe("secp256k1");
    expect((await certs.resolve(kept.name)).name).toBe(kept.name);

    // A broken file is reported and the rest still load.
    writeFileSync(join(dir, "broken.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const broken = certs.scanDirectory(dir);
    expect(broken.parsed).toBe(0);
    expect(broken.failed.map((f) => f.file)).toEqual([join(dir, "broken.pem")]);
    unlinkSync(join(dir, "broken.pem"));
  }, 120_000);

  it("reads a certificate as @peculiar/x509 does (serial, fingerprint, validity, keys), through OpenSSL", async () => {
    for (const d of [...devices.slice(0, 100), ...extra]) {
      const fast = parseDeviceCertificate(d.certPem);
      const ref = new x509.X509Certificate(d.certPem);
      expect(fast.serialNumber).toBe(ref.serialNumber);
      expect(fast.fingerprint).toBe(`0x${Buffer.from(await ref.getThumbprint("SHA-256")).toString("hex")}`);
      expect(fast.notBefore.getTime()).toBe(ref.notBefore.getTime());
      expect(fast.notAfter.getTime()).toBe(ref.notAfter.getTime());
      expect(fast.name).toBe(d.name);
      expect(fast.curve).toBe(d.curve);
      expect(Buffer.from(fast.readingPublicKey)).toEqual(Buffer.from(d.readingPublicKey));
    }
    // A certificate of another CA parses (what it says) but does not resolve (who issued it).
    const other = await (await createFleetCa()).issueDevice({ curve: "p256" });
    const certs = new FleetCertificates(ca.certPem);
    certs.add(other.certPem);
    await expect(certs.resolve(other.name)).rejects.toMatchObject({ reason: "certificate_invalid" });
  });

  it("keeps parsed certificates within its memory budget and reads evicted ones again from their files", async () => {
    const certs = new FleetCertificates(ca.certPem, { cacheBytes: 1 }); // the minimum: 16 certificates
    certs.scanDirectory(dir, { full: true });
    const parsedAtScan = certs.parses;
    const sample = devices.slice(10, 110);
    for (const d of sample)
      expect((await certs.resolve(d.name, new Date(), d.readingPublicKey)).name).toBe(d.name);
    // Each of them was evicted long before: read and parsed again, once.
    expect(certs.parses - parsedAtScan).toBe(sample.length);
    // A file that no longer holds what the scan saw is not used before the next scan looks at it.
    const [victim, other] = devices.slice(200, 202) as [IssuedDevice, IssuedDevice];
    writeFileSync(join(dir, `${victim.name}.pem`), other.certPem);
    try {
      await expect(certs.resolve(victim.name)).rejects.toMatchObject({ reason: "key_mismatch" });
    } finally {
      writeFileSync(join(dir, `${victim.name}.pem`), victim.certPem);
    }
  });

  it("loadDirectory keeps its contract: the number of certificate files, a bad file throws", () => {
    const certs = new FleetCertificates(ca.certPem);
    expect(certs.loadDirectory(dir)).toBe(N);
    writeFileSync(join(dir, "zz-broken.pem"), "not a pem");
    try {
      expect(() => certs.loadDirectory(dir)).toThrow(/zz-broken\.pem/);
    } finally {
      unlinkSync(join(dir, "zz-broken.pem"));
    }
  });

  it(`keeps the folder index within 450 bytes of memory a certificate (${N} certificates)`, () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const used = () => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers; // the index's typed arrays are outside the heap
    };
    const before = used();
    const certs = new FleetCertificates(ca.certPem, { cacheBytes: 1 });
    expect(certs.loadDirectory(dir)).toBe(N);
    const perCertificate = (used() - before) / N;
    expect(certs.size).toBe(N); // still alive when measured
    // 786 bytes with an object, a path and a stat object a certificate; about 300 as columns.
    expect(perCertificate).toBeLessThan(450);
  });
});

describe("FleetCertificates: a device's certificates in files of any name", () => {
  it("keeps both certificates of a renewal, prefers the registry's, drops each with its file", async () => {
    const ca = await createFleetCa();
    const dir = mkdtempSync(join(tmpdir(), "so-certs-renewal-"));
    try {
      const old = await ca.issueDevice({ curve: "secp256k1" });
      const renewed = await ca.issueDevice({ curve: "secp256k1", readingSecretKey: old.readingSecretKey });
      const other = await ca.issueDevice({ curve: "p256" });
      expect(renewed.name).toBe(old.name);
      writeFileSync(join(dir, `${old.name}.pem`), old.certPem);
      writeFileSync(join(dir, "renewed.pem"), renewed.certPem);
      writeFileSync(join(dir, "a.pem"), other.certPem);
      const certs = new FleetCertificates(ca.certPem);
      expect(certs.scanDirectory(dir)).toMatchObject({ files: 3, parsed: 3, failed: [] });
      expect(certs.size).toBe(2);
      expect(certs.names().sort()).toEqual([old.name, other.name].sort());
      const notAfter = (pem: string) => parseDeviceCertificate(pem).notAfter.getTime();
      expect(certs.earliestExpiry()?.getTime()).toBe(
        Math.min(notAfter(other.certPem), notAfter(old.certPem), notAfter(renewed.certPem)),
      );

      const now = new Date();
      const fpOld = certificateFingerprint(old.certPem);
      const fpRenewed = certificateFingerprint(renewed.certPem);
      expect((await certs.resolve(old.name, now, old.readingPublicKey, fpOld)).fingerprint).toBe(fpOld);
      expect((await certs.resolve(old.name, now, old.readingPublicKey, fpRenewed)).fingerprint).toBe(
        fpRenewed,
      );
      expect((await certs.resolve(other.name)).name).toBe(other.name);

      unlinkSync(join(dir, "renewed.pem"));
      expect(certs.scanDirectory(dir)).toMatchObject({ files: 2, parsed: 0, removed: 1 });
      // The registry's certificate is gone: the one left that carries the key.
      expect((await certs.resolve(old.name, now, old.readingPublicKey, fpRenewed)).fingerprint).toBe(fpOld);

      unlinkSync(join(dir, `${old.name}.pem`));
      expect(certs.scanDirectory(dir)).toMatchObject({ files: 1, removed: 1 });
      await expect(certs.resolve(old.name)).rejects.toMatchObject({ reason: "no_certificate" });
      expect(certs.names()).toEqual([other.name]);
      await expect(certs.resolve("not-a-device")).rejects.toMatchObject({ reason: "no_certificate" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("packs hex to a byte a character and back, and keeps any other string as it is", () => {
    for (const s of ["00ff10", "0a", "abc", "ABCD", "", "not hex", "0".repeat(64)])
      expect(unpackHex(packHex(s))).toBe(s);
    expect(packHex("0".repeat(64))).toHaveLength(32);
  });
});
