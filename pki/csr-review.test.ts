import "reflect-metadata";
import { webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { createDeviceCsr, softwareCsrKey } from "../device-agent/csr.js";
import { deviceIdOf, publicKeyOf, randomSecretKey } from "../protocol/index.js";
import { CertificateRequestError } from "./errors.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "./fleet-ca.js";

describe("CSR review: the checks before the fleet CA certifies a device's own key", () => {
  let ca: FleetCa;
  let good: IssuedDevice;

  beforeAll(async () => {
    ca = await createFleetCa({ commonName: "acme" });
    good = await ca.issueDevice({ curve: "secp256k1" });
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
