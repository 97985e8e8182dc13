import { reviewDeviceCsr } from "../pki/csr-review.js";
import { FactoryCertificateError } from "../pki/errors.js";
import { verifyFactoryCertificate } from "../pki/factory-certificate.js";
import type { FleetCa, IssuedDeviceFromCsr } from "../pki/fleet-ca.js";

/**
 * A device that brings its key from the factory (Trust&GO, a TPM, any token with a manufacturer
 * certificate) enrols without a new key: its manufacturer certificate must chain to the pinned
 * manufacturer CA, and the fleet certificate is issued for that same P-256 key (TLS and reading
 * key). Proof of possession is a CSR the factory key signed; without one, the manufacturer's
 * signature on the certificate (and on the manifest that lists it) is what vouches for the key,
 * as in Microchip's manifest flow.
 */
export async function certifyFactoryKey(p: {
  ca: FleetCa;
  /** The device's manufacturer certificate, then intermediates (PEM or base64 DER). */
  chain: string[];
  /** The manufacturer CA(s) the operator pinned (PEM). */
  pinned: string;
  /** A CSR signed by the factory key (proof of possession). */
  csrPem?: string;
  /** The key as a manifest's JWK lists it: must be the certificate's. */
  jwk?: { x: string; y: string };
}): Promise<IssuedDeviceFromCsr & { factorySerial: string }> {
  const factory = await verifyFactoryCertificate({ chain: p.chain, pinned: p.pinned });
  if (p.jwk) {
    const listed = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(p.jwk.x, "base64url"),
      Buffer.from(p.jwk.y, "base64url"),
    ]);
    if (Buffer.compare(listed, factory.publicKey) !== 0)
      throw new FactoryCertificateError(
        "key_mismatch",
        "The manifest's key is not the manufacturer certificate's.",
      );
  }
  if (p.csrPem) {
    const r = await reviewDeviceCsr(p.csrPem, { curve: "p256" });
    if (Buffer.compare(r.tlsPublicKey, factory.publicKey) !== 0)
      throw new FactoryCertificateError(
        "key_mismatch",
        "The certificate request is not signed by the key of the manufacturer certificate.",
        { details: `factory certificate ${factory.subject}` },
      );
    return { ...(await p.ca.issueDeviceFromCsr(p.csrPem, { curve: "p256" })), factorySerial: factory.serial };
  }
  return { ...(await p.ca.issueDeviceForKey(factory.publicKey)), factorySerial: factory.serial };
}
