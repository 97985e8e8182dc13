import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ManifestError } from "./errors.js";
import { readManifest } from "./manifest.js";

describe("manifest: our form and Trust&GO's", () => {
  const dir = mkdtempSync(join(tmpdir(), "so-manifest-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, body: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof body === "string" ? body : JSON.stringify(body));
    return p;
  };

  it("reads CSRs inline and from files beside it, and factory certificates", () => {
    writeFileSync(join(dir, "d2.csr"), "CSR-2");
    const m = readManifest(
      file("ours.json", {
        version: 1,
        devices: [
          { csr: "CSR-1" },
          { csrFile: "d2.csr" },
          { factoryCertificate: ["LEAF", "CA"], csr: "CSR-3" },
        ],
      }),
    );
    expect(m.entries.map((e) => e.kind)).toEqual(["csr", "csr", "factory"]);
    expect(m.entries[1]).toMatchObject({ kind: "csr", csrPem: "CSR-2" });
    expect(m.entries[2]).toMatchObject({ kind: "factory", chain: ["LEAF", "CA"], csrPem: "CSR-3" });
    // Keys are stable across reads: the state file of a run depends on them.
    expect(readManifest(m.path).entries.map((e) => e.key)).toEqual(m.entries.map((e) => e.key));
  });

  it("reads Trust&GO entries (signed payload or bare) by their chip id", () => {
    const payload = {
      uniqueId: "0123abcd",
      publicKeySet: {
        keys: [{ kid: "0", kty: "EC", crv: "P-256", x: "eA", y: "eQ", x5c: ["REVSMQ==", "REVSMg=="] }],
      },
    };
    const m = readManifest(
      file("tng.json", [
        {
          header: { uniqueId: "0123abcd" },
          payload: Buffer.from(JSON.stringify(payload)).toString("base64url"),
        },
        {
          ...payload,
          uniqueId: "0123abce",
          publicKeySet: { keys: [{ ...payload.publicKeySet.keys[0], x5c: ["REVSMw=="] }] },
        },
      ]),
    );
    expect(m.entries.map((e) => e.label)).toEqual(["chip 0123abcd", "chip 0123abce"]);
    expect(m.entries[0]).toMatchObject({
      kind: "factory",
      chain: ["REVSMQ==", "REVSMg=="],
      jwk: { x: "eA", y: "eQ" },
    });
  });

  it("refuses what it cannot use, naming the entry", () => {
    const code = (body: unknown) => {
      try {
        readManifest(file("bad.json", body));
      } catch (err) {
        expect(err).toBeInstanceOf(ManifestError);
        return (err as ManifestError).code;
      }
      return "read";
    };
    expect(code("{not json")).toBe("malformed");
    expect(code({ devices: [] })).toBe("malformed");
    expect(code({ devices: [{ what: 1 }] })).toBe("entry_invalid");
    expect(code([{ publicKeySet: { keys: [{ kty: "EC", crv: "P-384", x5c: [] }] } }])).toBe("entry_invalid");
    expect(code({ devices: [{ csr: "A" }, { csr: "A" }] })).toBe("duplicate");
  });
});
