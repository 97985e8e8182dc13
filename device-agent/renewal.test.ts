import { describe, expect, it } from "vitest";
import { FleetCa } from "../pki/fleet-ca.js";
import { renewalTime } from "./renewal.js";

describe("renewal time", () => {
  it("is two thirds of the certificate's life by default, or the fraction given", async () => {
    const ca = await FleetCa.create({ commonName: "renewal test" });
    const notBefore = new Date("2026-01-01T00:00:00Z");
    const notAfter = new Date("2026-01-31T00:00:00Z");
    const { certPem } = await ca.issueDevice({ curve: "p256", notBefore, notAfter });
    expect(renewalTime(certPem).toISOString()).toBe("2026-01-21T00:00:00.000Z");
    expect(renewalTime(certPem, 0.5).toISOString()).toBe("2026-01-16T00:00:00.000Z");
  });
});
