import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import * as x509 from "@peculiar/x509";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  deviceSanUri,
  normalizeLowS,
  readingKeySanUri,
} from "../protocol/index.js";
import type { Pkcs11Token } from "./pkcs11-signer.js";

/**
 * The device's certificate signing request (PKCS#10), signed by the device's own P-256 TLS key:
 * in the field that key is in the token, so the CA sees proof that the token holds it. The CSR
 * asks for the device's name (CN and SAN URI) and, for a secp256k1 device, names its reading key
 * in a second SAN URI (docs/PROTOCOL.md, "Device certificates").
 */

/** A P-256 key that signs the CSR: ES256 (ECDSA with SHA-256) over the given bytes, r||s. */
export interface CsrKey {
  /** 65-byte uncompressed P-256 public key. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** The token's key with this label signs (CKM_ECDSA over the SHA-256 the host computes). */
export function tokenCsrKey(token: Pkcs11Token, label: string): CsrKey {
  return {
    publicKey: token.publicKey(label),
    async sign(message) {
      const hash = createHash("sha256").update(message).digest();
      return normalizeLowS("p256", await token.signHash(label, hash));
    },
  };
}

/** A software P-256 key signs (development only; see SoftwareSigner). */
export function softwareCsrKey(secretKey: Uint8Array): CsrKey {
  return {
    publicKey: p256.getPublicKey(secretKey, false),
    async sign(message) {
      return p256.sign(message, secretKey, { prehash: true, lowS: true });
    },
  };
}

export type DeviceCsrParameters = {
  /** The P-256 key the device authenticates TLS with; for a P-256 device, its reading key too. */
  tlsKey: CsrKey;
  curve: CurveName;
  /** 65-byte uncompressed reading key (omit for P-256: the TLS key signs readings). */
  readingPublicKey?: Uint8Array;
  /** The device's name; derived from the reading key when absent (a rotated key keeps the old name). */
  deviceName?: string;
};

/** Build and sign the device's CSR; returns it as PEM ("CERTIFICATE REQUEST"). */
export async function createDeviceCsr(p: DeviceCsrParameters): Promise<string> {
  const readingPublicKey = p.readingPublicKey ?? (p.curve === "p256" ? p.tlsKey.publicKey : undefined);
  if (!readingPublicKey) throw new TypeError("a secp256k1 device's CSR needs its reading public key");
  const name = p.deviceName ?? deviceIdToName(deviceIdOf(p.curve, readingPublicKey));
  const subtle = webcrypto.subtle;
  const publicKey = await subtle.importKey(
    "raw",
    Buffer.from(p.tlsKey.publicKey),
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  // @peculiar/x509 builds the request and asks `crypto.subtle.sign` for the signature; this
  // provider hands that one call to the key's owner (the token) and everything else to WebCrypto.
  const signingKey = {
    algorithm: { name: "ECDSA", namedCurve: "P-256" },
    type: "private",
  } as unknown as CryptoKey;
  const provider = {
    subtle: {
      exportKey: subtle.exportKey.bind(subtle),
      sign: async (_alg: unknown, _key: unknown, data: ArrayBuffer) =>
        (await p.tlsKey.sign(new Uint8Array(data))).slice().buffer,
    },
  } as unknown as Crypto;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: `CN=${name}`,
      keys: { publicKey: publicKey as unknown as CryptoKey, privateKey: signingKey },
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: deviceSanUri(name) },
          ...(p.curve === "secp256k1"
            ? [{ type: "url" as const, value: readingKeySanUri(p.curve, readingPublicKey) }]
            : []),
        ]),
      ],
    },
    provider,
  );
  return csr.toString("pem");
}
