import { beforeAll, describe, expect, it } from "vitest";
import { createFleetCa, type FleetCa } from "../pki/fleet-ca.js";
import { certificateExpiry, DEFAULT_EXPIRY_WARNING_DAYS } from "./certificate-expiry.js";
import { CertificateReadError } from "./errors.js";

const DAY = 86_400_000;

describe("certificate expiry", () => {
  let ca: FleetCa;
  const now = new Date();
  const notBefore = new Date(Math.floor((now.getTime() - DAY) / 1000) * 1000);
  // Certificates carry whole seconds.
  const at = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

  beforeAll(async () => {
    ca = await createFleetCa();
  });

  it("reads notAfter and the seconds left, and does not warn far from expiry", async () => {
    const notAfter = at(now.getTime() + 90 * DAY);
    const d = await ca.issueDevice({ curve: "p256", notBefore, notAfter });
    const e = certificateExpiry({ certPem: d.certPem, now });
    expect(e.notAfter).toEqual(notAfter);
    expect(e.notBefore).toEqual(notBefore);
    expect(e.secondsLeft).toBe(Math.floor((notAfter.getTime() - now.getTime()) / 1000));
    expect(e.warnAt).toEqual(new Date(notAfter.getTime() - DEFAULT_EXPIRY_WARNING_DAYS * DAY));
    expect(e).toMatchObject({ warn: false, expired: false, subject: `CN=${d.name}` });
  });

  it("warns from the threshold on (30 days by default, or as told), and after expiry", async () => {
    const short = await ca.issueDevice({ curve: "p256", notBefore, notAfter: at(now.getTime() + 10 * DAY) });
    expect(certificateExpiry({ certPem: short.certPem, now })).toMatchObject({ warn: true, expired: false });
    expect(certificateExpiry({ certPem: short.certPem, now, warnDays: 7 }).warn).toBe(false);
    const e = certificateExpiry({ certPem: short.certPem, now, warnDays: 7 });
    expect(certificateExpiry({ certPem: short.certPem, now: e.warnAt, warnDays: 7 }).warn).toBe(true);
    expect(
      certificateExpiry({ certPem: short.certPem, now: new Date(e.warnAt.getTime() - 1000), warnDays: 7 })
        .warn,
    ).toBe(false);
    const gone = certificateExpiry({ certPem: short.certPem, now: new Date(now.getTime() + 11 * DAY) });
    expect(gone).toMatchObject({ warn: true, expired: true });
    expect(gone.secondsLeft).toBeLessThan(0);
  });

  it("reads a short-lived certificate issued minutes ago, and the first of a file with its chain", async () => {
    const minutes = await ca.issueDevice({
      curve: "secp256k1",
      notBefore,
      notAfter: at(now.getTime() + 5 * 60_000),
    });
    const e = certificateExpiry({ certPem: `${minutes.certPem}\n${ca.certPem}`, now, warnDays: 0.0025 });
    expect(e.subject).toBe(`CN=${minutes.name}`);
    expect(e.secondsLeft).toBeGreaterThan(4 * 60);
    expect(e.secondsLeft).toBeLessThanOrEqual(5 * 60);
    // 0.0025 days is 216 s: not yet at 4-5 minutes left.
    expect(e.warn).toBe(false);
  });

  it("refuses text that holds no certificate with a typed error", () => {
    expect(() => certificateExpiry({ certPem: "" })).toThrow(CertificateReadError);
    expect(() =>
      certificateExpiry({
        certPem: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----",
      }),
    ).toThrow(CertificateReadError);
    expect(() => certificateExpiry({ certPem: "x", warnDays: -1 })).toThrow(RangeError);
  });
});
