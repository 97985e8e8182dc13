import { X509Certificate } from "node:crypto";
import type { FleetCertificates } from "./certificates.js";
import type { WatchedCertificate } from "./metrics.js";

/**
 * The certificates whose expiry stops the bridge or its devices: its own MQTT client certificate,
 * the CA bundle it trusts the broker with (the fleet's chain; the earliest one), and the earliest
 * of the devices' current certificates.
 */
export function watchedCertificates(
  mqtt: { cert: string; ca: string },
  devices: FleetCertificates,
): WatchedCertificate[] {
  return [
    { certificate: "bridge", notAfter: earliest(mqtt.cert) },
    { certificate: "fleet_ca", notAfter: earliest(mqtt.ca) },
    { certificate: "device_earliest", notAfter: devices.earliestExpiry() },
  ];
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The earliest notAfter of the certificates in a PEM bundle, or null (none, or not parseable). */
function earliest(pem: string): Date | null {
  let first: Date | null = null;
  for (const block of pem.match(PEM) ?? []) {
    try {
      const notAfter = new Date(new X509Certificate(block).validTo);
      if (!first || notAfter < first) first = notAfter;
    } catch {
      // a block that is not a certificate is not watched
    }
  }
  return first;
}
