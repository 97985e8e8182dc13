import { describe, expect, it } from "vitest";
import { FleetCa } from "../pki/fleet-ca.js";
import { certsFromCertsOnly, certsOnly } from "./enrolment-est-wire.js";

describe("EST certs-only PKCS#7", () => {
  it("round-trips certificates through a certs-only message that openssl-style parsers read", async () => {
    const ca = await FleetCa.create({ commonName: "est test" });
    const server = await ca.issueServer({ commonName: "est" });
    const body = certsOnly([server.certPem, ca.intermediatePem]);
    // DER of a ContentInfo: SEQUENCE, then the signedData OID 1.2.840.113549.1.7.2.
    const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
    expect(der[0]).toBe(0x30);
    expect(der.includes(Buffer.from("2a864886f70d010702", "hex"))).toBe(true);
    const back = certsFromCertsOnly(body);
    expect(back).toHaveLength(2);
    expect(back[0]?.replace(/\s+/g, "")).toBe(server.certPem.replace(/\s+/g, ""));
  });
});
