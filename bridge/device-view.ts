import type { Hex } from "viem";
import { type CurveName, deviceNameToId } from "../protocol/index.js";
import type { FleetCertificates } from "./certificates.js";
import type { DeviceRegistryView } from "./registry/types.js";

/** What the bridge knows of a device: its enrolled certificate and its registry record. */
export type DeviceInfo = {
  name: string;
  deviceId: Hex;
  certificate: { curve: CurveName; fingerprint: Hex; notBefore: string; notAfter: string } | null;
  registry: {
    curve: CurveName;
    status: "active" | "revoked";
    validFrom: number;
    revokedAt: number;
    certFingerprint: Hex;
  } | null;
};

/** The device view served at /devices/:name: null when neither the certificates nor the registry know it. */
export function deviceView(
  certificates: FleetCertificates,
  registry: DeviceRegistryView,
): (name: string) => Promise<DeviceInfo | null> {
  return async (name) => {
    const cert = await certificates.resolve(name).catch(() => null);
    const record = await registry.get(deviceNameToId(name)).catch(() => null);
    if (!cert && !record) return null;
    return {
      name,
      deviceId: deviceNameToId(name),
      certificate: cert && {
        curve: cert.curve,
        fingerprint: cert.fingerprint,
        notBefore: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
      },
      registry: record && {
        curve: record.curve,
        status: record.status,
        validFrom: record.validFrom,
        revokedAt: record.revokedAt,
        certFingerprint: record.certFingerprint,
      },
    };
  };
}
