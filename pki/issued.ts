import type { CurveName } from "../protocol/index.js";

/** What the fleet CA issues, and the parameters of a device certificate. */

export type IssuedCertificate = { certPem: string; keyPem: string };

export type IssueDeviceFromCsrParameters = {
  curve: CurveName;
  /** The device id to certify (a rotation keeps the old one); derived from the reading key when absent. */
  deviceId?: `0x${string}`;
  /** The device name the operator expects; another is a CertificateRequestError "name_mismatch". */
  expectedName?: string;
  notBefore?: Date;
  notAfter?: Date;
};

export type IssuedDeviceFromCsr = IssuedDeviceCertificate & {
  readingPublicKey: Uint8Array;
  tlsPublicKey: Uint8Array;
};

export type IssuedDeviceCertificate = {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  certPem: string;
};

export type IssueDeviceParameters = {
  curve: CurveName;
  /** Software reading key for secp256k1 devices (32-byte secret); generated when absent. */
  readingSecretKey?: Uint8Array;
  notBefore?: Date;
  notAfter?: Date;
};

export type IssuedDevice = IssuedCertificate & {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  readingSecretKey: Uint8Array;
  readingPublicKey: Uint8Array;
};
