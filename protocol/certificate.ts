import type { CurveName } from "./reading.js";
import { isDeviceName } from "./wire.js";

/**
 * Device certificate profile (docs/PROTOCOL.md, "Device certificates").
 * - Subject CN names the device: 64 lowercase hex digits of the device id; a SAN URI
 *   `urn:sensor-oracle:device:<name>` repeats it.
 * - The certificate's own key (SubjectPublicKeyInfo) is the device's TLS key and is always P-256:
 *   TLS 1.3 has no secp256k1 signature scheme, and TLS 1.2 peers refuse such client certificates
 *   (measured: OpenSSL alerts "illegal parameter").
 * - A P-256 device signs readings with that same key. A secp256k1 device names its reading key in
 *   a second SAN URI, `urn:sensor-oracle:reading-key:secp256k1:<130 hex digits of 04||x||y>`.
 *   (A SAN URI, not a private extension: every X.509 parser reads it, and a UUID-arc OID was
 *   truncated by @peculiar/x509's encoder.)
 */

const DEVICE_URI = "urn:sensor-oracle:device:";
const READING_KEY_URI = "urn:sensor-oracle:reading-key:";

export const deviceSanUri = (deviceName: string) => `${DEVICE_URI}${deviceName}`;

export function readingKeySanUri(curve: CurveName, publicKey: Uint8Array): string {
  return `${READING_KEY_URI}${curve}:${Buffer.from(publicKey).toString("hex")}`;
}

export function parseDeviceSanUri(uri: string): string | null {
  if (!uri.startsWith(DEVICE_URI)) return null;
  const name = uri.slice(DEVICE_URI.length);
  return isDeviceName(name) ? name : null;
}

export function parseReadingKeySanUri(uri: string): { curve: CurveName; publicKey: Uint8Array } | null {
  const m = /^urn:sensor-oracle:reading-key:(p256|secp256k1):(04[0-9a-f]{128})$/.exec(uri);
  if (!m) return null;
  return { curve: m[1] as CurveName, publicKey: Buffer.from(m[2] as string, "hex") };
}
