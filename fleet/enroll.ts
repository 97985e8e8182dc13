import { X509Certificate } from "node:crypto";
import { createDeviceCsr, tokenCsrKey } from "../device-agent/csr.js";
import type { Pkcs11Token } from "../device-agent/pkcs11-signer.js";
import type { FleetCa, IssuedDeviceFromCsr } from "../pki/fleet-ca.js";
import { type CurveName, deviceIdToName, SensorOracleError } from "../protocol/index.js";
import { type RegistryWriter, registerDevice } from "./registry-admin.js";

export type TokenDevice = IssuedDeviceFromCsr & {
  /** Label of the key that signs readings. */
  readingLabel: string;
  /** Label of the P-256 key the TLS client authenticates with (the reading key for P-256). */
  tlsLabel: string;
};

/** A device's keys in the token: the reading key, and for secp256k1 a P-256 TLS key beside it. */
export function generateDeviceKeys(
  token: Pkcs11Token,
  curve: CurveName,
  label: string,
): { readingPublicKey: Uint8Array; tlsLabel: string } {
  const tlsLabel = curve === "p256" ? label : `${label}-tls`;
  for (const l of new Set([label, tlsLabel])) {
    if (token.hasKey(l)) throw new SensorOracleError(`The token already holds a key labelled "${l}".`);
  }
  const readingPublicKey = token.generateKey({ curve, label });
  if (curve !== "p256") token.generateKey({ curve: "p256", label: tlsLabel });
  return { readingPublicKey, tlsLabel };
}

/**
 * Certify token-held keys: the token signs the device's CSR with its TLS key, and the fleet CA
 * checks that signature before it issues the certificate. `deviceId` keeps a rotated device's id.
 */
export async function certifyTokenKeys(p: {
  token: Pkcs11Token;
  ca: FleetCa;
  curve: CurveName;
  readingPublicKey: Uint8Array;
  tlsLabel: string;
  deviceId?: `0x${string}`;
  notAfter?: Date;
}): Promise<IssuedDeviceFromCsr> {
  const csr = await createDeviceCsr({
    tlsKey: tokenCsrKey(p.token, p.tlsLabel),
    curve: p.curve,
    readingPublicKey: p.readingPublicKey,
    ...(p.deviceId ? { deviceName: deviceIdToName(p.deviceId) } : {}),
  });
  return p.ca.issueDeviceFromCsr(csr, {
    curve: p.curve,
    ...(p.deviceId ? { deviceId: p.deviceId } : {}),
    ...(p.notAfter ? { notAfter: p.notAfter } : {}),
  });
}

/**
 * Enrol a device whose keys live in a PKCS#11 token: generate its keys inside the token, have the
 * token sign the CSR, certify it with the fleet CA, register on-chain.
 */
export async function enrollTokenDevice(p: {
  token: Pkcs11Token;
  curve: CurveName;
  label: string;
  ca: FleetCa;
  /** Register the device on-chain with this writer (not registered when absent). */
  registry?: RegistryWriter;
  /** When the registry accepts its readings from (unix seconds); the certificate's start by default. */
  validFrom?: number;
  notAfter?: Date;
}): Promise<TokenDevice> {
  const { readingPublicKey, tlsLabel } = generateDeviceKeys(p.token, p.curve, p.label);
  const cert = await certifyTokenKeys({ ...p, readingPublicKey, tlsLabel });
  if (p.registry) {
    const from = p.validFrom ?? Math.floor(new X509Certificate(cert.certPem).validFromDate.getTime() / 1000);
    await registerDevice(p.registry, cert, from);
  }
  return { ...cert, readingLabel: p.label, tlsLabel };
}
