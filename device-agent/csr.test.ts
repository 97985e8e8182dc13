import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import {
  deviceIdOf,
  deviceIdToName,
  deviceSanUri,
  isHighS,
  publicKeyOf,
  randomSecretKey,
  readingKeySanUri,
} from "../protocol/index.js";
import { createDeviceCsr, softwareCsrKey } from "./csr.js";

const crypto = webcrypto as unknown as Crypto;

/** The request's CN, SAN URIs, raw public key and whether its signature verifies. */
async function read(pem: string) {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension) as
    | x509.SubjectAlternativeNameExtension
    | undefined;
  const key = await csr.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"], crypto);
  return {
    cn: csr.subjectName.getField("CN"),
    uris: (san?.names.items ?? []).filter((n) => n.type === "url").map((n) => n.value),
    publicKey: new Uint8Array(await crypto.subtle.exportKey("raw", key)),
    verifies: await csr.verify(crypto),
  };
}

describe("device CSR with a software P-256 key", () => {
  it("signs ES256 low-S over the message, verifiable with the key's public half", async () => {
    const secret = randomSecretKey("p256");
    const key = softwareCsrKey(secret);
    expect(Buffer.from(key.publicKey)).toEqual(Buffer.from(publicKeyOf("p256", secret)));
    const message = new TextEncoder().encode("certification request info");
    for (let i = 0; i < 16; i++) {
      const sig = await key.sign(message);
      expect(sig).toHaveLength(64);
      expect(isHighS("p256", sig)).toBe(false);
      expect(p256.verify(sig, message, key.publicKey, { prehash: true })).toBe(true);
    }
  });

  it("asks for the name a P-256 device's key gives, in the CN and a SAN URI, signed by that key", async () => {
    const secret = randomSecretKey("p256");
    const pem = await createDeviceCsr({ tlsKey: softwareCsrKey(secret), curve: "p256" });
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const name = deviceIdToName(deviceIdOf("p256", publicKeyOf("p256", secret)));
    const csr = await read(pem);
    expect(csr).toMatchObject({ cn: [name], uris: [deviceSanUri(name)], verifies: true });
    expect(Buffer.from(csr.publicKey)).toEqual(Buffer.from(publicKeyOf("p256", secret)));
  });

  it("names a secp256k1 device's reading key in a second SAN URI, the TLS key signing the request", async () => {
    const tlsSecret = randomSecretKey("p256");
    const readingPublicKey = publicKeyOf("secp256k1", randomSecretKey("secp256k1"));
    const pem = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve: "secp256k1",
      readingPublicKey,
    });
    const name = deviceIdToName(deviceIdOf("secp256k1", readingPublicKey));
    const csr = await read(pem);
    expect(csr).toMatchObject({
      cn: [name],
      uris: [deviceSanUri(name), readingKeySanUri("secp256k1", readingPublicKey)],
      verifies: true,
    });
    expect(Buffer.from(csr.publicKey)).toEqual(Buffer.from(publicKeyOf("p256", tlsSecret)));
  });

  it("keeps a rotated device's name when given, and refuses a secp256k1 request without its reading key", async () => {
    const name = "ab".repeat(32);
    const pem = await createDeviceCsr({
      tlsKey: softwareCsrKey(randomSecretKey("p256")),
      curve: "p256",
      deviceName: name,
    });
    expect(await read(pem)).toMatchObject({ cn: [name], uris: [deviceSanUri(name)], verifies: true });
    await expect(
      createDeviceCsr({ tlsKey: softwareCsrKey(randomSecretKey("p256")), curve: "secp256k1" }),
    ).rejects.toThrow(TypeError);
  });

  it("produces a request that no longer verifies when signed by another key than the one it carries", async () => {
    const carried = softwareCsrKey(randomSecretKey("p256"));
    const other = softwareCsrKey(randomSecretKey("p256"));
    const pem = await createDeviceCsr({
      tlsKey: { publicKey: carried.publicKey, sign: other.sign },
      curve: "p256",
    });
    expect((await read(pem)).verifies).toBe(false);
  });
});
