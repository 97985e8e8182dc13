import { X509Certificate } from "node:crypto";
import { parseCertificates } from "../pki/factory-certificate.js";
import { readManifest } from "./manifest.js";

/**
 * The zero-touch policy: which factory keys may enrol themselves. Read from a manifest in the
 * forms `device enroll --manifest` takes (ours with `factoryCertificate`, or Microchip Trust&GO):
 * each entry's manufacturer certificate names a key; a device whose factory certificate carries
 * one of those keys (and chains to the pinned manufacturer CA) is approved, any other refused.
 */
export type AllowList = { keys: Set<string>; path: string };

/** The 65-byte uncompressed P-256 key of a certificate, hex. */
export function certificateKeyHex(certPemOrDer: string): string {
  const leaf = parseCertificates(certPemOrDer)[0];
  if (!leaf) return "";
  const spki = new X509Certificate(Buffer.from(leaf.rawData)).publicKey.export({
    format: "der",
    type: "spki",
  });
  return spki.subarray(spki.length - 65).toString("hex");
}

export function readAllowList(path: string): AllowList {
  const keys = new Set<string>();
  for (const e of readManifest(path).entries) {
    if (e.kind !== "factory") continue;
    const first = e.chain[0];
    if (first) keys.add(certificateKeyHex(first));
  }
  return { keys, path };
}
