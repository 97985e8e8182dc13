import { X509Certificate } from "node:crypto";
import { FleetCertificates, parseDeviceCertificate } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { csrCurve, reviewDeviceCsr } from "../pki/csr-review.js";
import { CertificateRequestError } from "../pki/errors.js";
import type { FleetCa, IssuedDeviceFromCsr } from "../pki/fleet-ca.js";
import { type CurveName, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import { EnrolmentError } from "./errors.js";
import { type RegistryReceipt, type RegistryWriter, registerDevice } from "./registry-admin.js";

/**
 * Enrol a device from a CSR it made elsewhere (`agent csr`, OpenSSL, a device written from
 * docs/PROTOCOL.md): review the CSR (signature, key, curve, name), refuse a device the registry
 * already holds, certify it with the fleet CA (or take the certificate an external CA issued for
 * that CSR), register it on-chain. A refused CSR issues nothing and registers nothing; each step
 * is written to the audit log.
 */
export type EnrollFromCsrParameters = {
  csrPem: string;
  /** The curve the operator enrols; taken from the CSR when absent. */
  curve?: CurveName;
  /** The device name the operator expects (64 hex); another is refused. */
  expectedName?: string;
  /** Our CA, which certifies the CSR. Not needed with `certificatePem`. */
  ca?: FleetCa;
  /**
   * A certificate an external issuing CA (step-ca, Vault PKI, OpenSSL) made for this CSR: it must
   * chain to `caChainPem` and carry the CSR's key and name.
   */
  certificatePem?: string;
  caChainPem?: string;
  registry?: RegistryWriter;
  audit?: AuditLog;
};

export type EnrollFromCsrReturnType = {
  cert: IssuedDeviceFromCsr;
  serial: string;
  receipt?: RegistryReceipt;
};

export async function enrollFromCsr(p: EnrollFromCsrParameters): Promise<EnrollFromCsrReturnType> {
  let cert: IssuedDeviceFromCsr;
  try {
    const curve = p.curve ?? csrCurve(p.csrPem);
    const reviewed = await reviewDeviceCsr(p.csrPem, {
      curve,
      ...(p.expectedName !== undefined ? { expectedName: p.expectedName } : {}),
    });
    if (p.registry) {
      const d = await p.registry.publicClient.readContract({
        address: p.registry.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [reviewed.deviceId],
      });
      if (d.status !== 0)
        throw new EnrolmentError(
          "already_registered",
          "The registry already holds this device: rotate it instead.",
          {
            details: `device ${reviewed.name}`,
          },
        );
    }
    if (p.certificatePem) {
      await checkExternalCertificate(p.certificatePem, p.caChainPem, reviewed);
      cert = {
        curve,
        deviceId: reviewed.deviceId,
        name: reviewed.name,
        certPem: p.certificatePem,
        readingPublicKey: reviewed.readingPublicKey,
        tlsPublicKey: reviewed.tlsPublicKey,
      };
    } else {
      if (!p.ca) throw new SensorOracleError("No CA to certify the request with.");
      cert = await p.ca.issueDeviceFromCsr(p.csrPem, {
        curve,
        ...(p.expectedName !== undefined ? { expectedName: p.expectedName } : {}),
      });
    }
  } catch (err) {
    if (err instanceof CertificateRequestError || err instanceof EnrolmentError)
      p.audit?.append({
        action: "enrolment_refused",
        ...(p.expectedName ? { device: p.expectedName } : {}),
        details: { reason: `${err.name}:${err.code}` },
      });
    throw err;
  }
  const dc = parseDeviceCertificate(cert.certPem);
  p.audit?.append({
    action: "issued",
    device: cert.name,
    serial: dc.serialNumber,
    details: { curve: cert.curve, ...(p.certificatePem ? { issuer: "external" } : {}) },
  });
  if (!p.registry) return { cert, serial: dc.serialNumber };
  const receipt = await registerDevice(p.registry, cert, Math.floor(dc.notBefore.getTime() / 1000));
  p.audit?.append({
    action: "registered",
    device: cert.name,
    serial: dc.serialNumber,
    tx: receipt.hash,
    details: { block: Number(receipt.blockNumber) },
  });
  return { cert, serial: dc.serialNumber, receipt };
}

/** An externally issued certificate must chain to the fleet's CA bundle and be the CSR's. */
async function checkExternalCertificate(
  certPem: string,
  caChainPem: string | undefined,
  reviewed: { name: string; tlsPublicKey: Uint8Array; readingPublicKey: Uint8Array },
): Promise<void> {
  if (!caChainPem) throw new SensorOracleError("No CA chain to check the external certificate against.");
  const certs = new FleetCertificates(caChainPem);
  let name: string;
  try {
    name = certs.add(certPem);
    await certs.resolve(name);
  } catch (cause) {
    throw new EnrolmentError(
      "certificate_not_fleet",
      "The certificate is not a device certificate of this fleet's CA.",
      {
        cause,
        ...(cause instanceof SensorOracleError && cause.details ? { details: cause.details } : {}),
      },
    );
  }
  const dc = parseDeviceCertificate(certPem);
  const spki = new X509Certificate(certPem).publicKey.export({ format: "der", type: "spki" });
  const tlsKey = new Uint8Array(spki.subarray(spki.length - 65));
  if (
    name !== reviewed.name ||
    Buffer.compare(tlsKey, reviewed.tlsPublicKey) !== 0 ||
    Buffer.compare(dc.readingPublicKey, reviewed.readingPublicKey) !== 0
  )
    throw new CertificateRequestError(
      "certificate_mismatch",
      "The certificate is not for the key and name the certificate request asks for.",
      { details: `certificate ${name}, request ${reviewed.name}` },
    );
}
