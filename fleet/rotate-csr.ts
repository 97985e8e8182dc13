import { parseDeviceCertificate } from "../bridge/certificates.js";
import { CertificateRequestError } from "../pki/errors.js";
import type { FleetCa, IssuedDeviceFromCsr } from "../pki/fleet-ca.js";
import { type CurveName, deviceNameToId } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import { type RegistryReceipt, type RegistryWriter, rotateDevice } from "./registry-admin.js";

/**
 * A new key for an enrolled device, from the CSR the device made for it (`agent csr --name`):
 * the request must keep the device's name and curve and be signed by its new TLS key; the fleet
 * CA certifies it and the registry's `rotate` puts the new key in force from `at` (the old key
 * keeps verifying readings signed before). What device-initiated rotation builds on.
 */
export async function rotateFromCsr(p: {
  ca: FleetCa;
  csrPem: string;
  /** The enrolled device's name and current certificate. */
  name: string;
  currentCertPem: string;
  registry?: RegistryWriter;
  /** When the new key takes over (unix seconds); now by default. */
  at?: number;
  audit?: AuditLog;
  /** Called with the new certificate before the on-chain rotation (the enrolment endpoint files it first). */
  beforeChain?: (cert: IssuedDeviceFromCsr) => Promise<void>;
}): Promise<{ cert: IssuedDeviceFromCsr; serial: string; receipt?: RegistryReceipt }> {
  const old = parseDeviceCertificate(p.currentCertPem);
  const curve: CurveName = old.curve;
  let cert: IssuedDeviceFromCsr;
  try {
    cert = await p.ca.issueDeviceFromCsr(p.csrPem, {
      curve,
      deviceId: deviceNameToId(p.name),
      expectedName: p.name,
    });
    if (Buffer.compare(cert.readingPublicKey, old.readingPublicKey) === 0)
      throw new CertificateRequestError(
        "wrong_key",
        "The request carries the device's current key: a rotation needs a new one.",
      );
  } catch (err) {
    if (err instanceof CertificateRequestError)
      p.audit?.append({
        action: "enrolment_refused",
        device: p.name,
        details: { reason: `${err.name}:${err.code}`, rotation: true },
      });
    throw err;
  }
  const serial = parseDeviceCertificate(cert.certPem).serialNumber;
  if (!p.registry) {
    p.audit?.append({
      action: "rotated",
      device: p.name,
      serial,
      details: { previousSerial: old.serialNumber, onChain: false },
    });
    return { cert, serial };
  }
  await p.beforeChain?.(cert);
  const receipt = await rotateDevice(p.registry, cert, p.at ?? Math.floor(Date.now() / 1000));
  p.audit?.append({
    action: "rotated",
    device: p.name,
    serial,
    tx: receipt.hash,
    details: { previousSerial: old.serialNumber },
  });
  return { cert, serial, receipt };
}
