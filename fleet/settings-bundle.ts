import { writeFileSync } from "node:fs";
import type { Hex } from "viem";
import type { CurveName } from "../protocol/index.js";

/**
 * What the operator hands a device after enrolment (`device enroll --csr/--manifest`): its
 * certificate, the fleet's CA chain, and the fleet's public settings (broker, chain, registry,
 * feeds). Nothing secret: the device's keys never leave it. `agent install` turns it into the
 * agent's config beside the device's own keys.
 */
export type DeviceSettingsBundle = {
  version: 1;
  deviceName: string;
  curve: CurveName;
  /** The device's certificate (PEM). */
  certificate: string;
  /** The fleet CA chain the broker's certificate chains to (PEM: issuing CA then root). */
  caChain: string;
  /** mqtts://host:port of the fleet's broker, when the fleet has one configured. */
  brokerUrl?: string;
  chainId?: number;
  registry?: Hex;
  /** Feed names the device publishes (the fleet's list; the agent's `--feed`). */
  feeds: string[];
};

/** The fleet's public settings a bundle carries besides the certificate. */
export type FleetPublicSettings = Omit<
  DeviceSettingsBundle,
  "version" | "deviceName" | "curve" | "certificate"
>;

/** A device's bundle from its certificate and the fleet's public settings. */
export function settingsBundle(
  device: { name: string; curve: CurveName; certPem: string },
  fleet: FleetPublicSettings,
): DeviceSettingsBundle {
  return {
    version: 1,
    deviceName: device.name,
    curve: device.curve,
    certificate: device.certPem,
    caChain: fleet.caChain,
    ...(fleet.brokerUrl ? { brokerUrl: fleet.brokerUrl } : {}),
    ...(fleet.chainId !== undefined ? { chainId: fleet.chainId } : {}),
    ...(fleet.registry ? { registry: fleet.registry } : {}),
    feeds: fleet.feeds,
  };
}

/** Write a bundle (JSON, not secret: readable). */
export function writeSettingsBundle(path: string, bundle: DeviceSettingsBundle): void {
  writeFileSync(path, `${JSON.stringify(bundle, null, 2)}\n`);
}
