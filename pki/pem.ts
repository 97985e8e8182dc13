import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { crypto, EC } from "./crypto.js";

// The software secret's PEM forms need node:crypto alone: they live in secret-key.ts, which the
// device agent imports directly (this module loads @peculiar/x509).
export { p256SecretFromPem, p256SecretToPem } from "./secret-key.js";

/** Private keys as PKCS#8 PEM, the form TLS clients and servers load. */

/** A WebCrypto private key as PKCS#8 PEM. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** A PKCS#8 PEM P-256 private key as a WebCrypto signing key. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0] as ArrayBuffer;
  return crypto.subtle.importKey("pkcs8", der, EC, true, ["sign"]);
}
