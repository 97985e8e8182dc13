import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { crypto, EC, SIGN } from "./crypto.js";

/**
 * The signature of one entry of a manufacturer's manifest (Microchip's Trust&GO manifests are
 * lists of JWS, ES256, one per chip): valid when one of the pinned manifest signer certificates'
 * keys verifies it over `protected.payload`. The chain of each chip's own certificate is checked
 * separately (pki/factory-certificate.ts); this says the list itself is the manufacturer's.
 */
export type CompactJws = { protected: string; payload: string; signature: string };

/** Does one of the signer certificates (PEM bundle) verify this ES256 JWS? */
export async function verifyManifestEntrySignature(jws: CompactJws, signersPem: string): Promise<boolean> {
  let header: { alg?: string };
  try {
    header = JSON.parse(Buffer.from(jws.protected, "base64url").toString("utf8")) as { alg?: string };
  } catch {
    return false;
  }
  if (header.alg !== "ES256") return false;
  const signature = Buffer.from(jws.signature, "base64url");
  if (signature.length !== 64) return false;
  const data = Buffer.from(`${jws.protected}.${jws.payload}`, "ascii");
  for (const der of x509.PemConverter.decode(signersPem)) {
    const key = await new x509.X509Certificate(der).publicKey.export(EC, ["verify"], crypto);
    if (await crypto.subtle.verify(SIGN, key, signature, data)) return true;
  }
  return false;
}
