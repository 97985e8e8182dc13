import { FleetCertificates, parseDeviceCertificate } from "../bridge/certificates.js";
import { deviceIdOf, deviceNameToId, SensorOracleError } from "../protocol/index.js";
import type { RegisteredDevice } from "./registry-admin.js";

/**
 * What to register for a device certificate: its id (from the CN), curve, reading key and the
 * certificate itself, valid from the certificate's start. With the fleet CA chain given, the
 * certificate must also chain to it. A certificate whose CN is not the id of its reading key (a
 * rotated key) is refused: that is a rotation, not a registration.
 */
export async function registrationOf(
  certPem: string,
  fleetCaPem?: string,
): Promise<{ device: RegisteredDevice; name: string; validFrom: number }> {
  let dc = parseDeviceCertificate(certPem);
  if (fleetCaPem) {
    const certs = new FleetCertificates(fleetCaPem);
    certs.add(certPem);
    dc = await certs.resolve(dc.name);
  }
  const deviceId = deviceNameToId(dc.name);
  if (deviceIdOf(dc.curve, dc.readingPublicKey) !== deviceId)
    throw new SensorOracleError(
      "The certificate's CN is not the id of its reading key (a rotated key? use rotate).",
    );
  return {
    device: { deviceId, curve: dc.curve, readingPublicKey: dc.readingPublicKey, certPem },
    name: dc.name,
    validFrom: Math.floor(dc.notBefore.getTime() / 1000),
  };
}
