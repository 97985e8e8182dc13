import type { Hex } from "viem";
import { DeviceAgent, type DeviceAgentParameters } from "../device-agent/agent.js";
import { SoftwareSigner } from "../device-agent/signer.js";
import type { IssuedDevice } from "../pki/fleet-ca.js";

/** Where a test device connects and what it signs for: the broker, the fleet CA and the domain. */
export type AgentSite = {
  brokerUrl: string;
  caPem: string;
  domain: DeviceAgentParameters["domain"];
  /** MQTT 5 by default; 4 for the demo's embedded broker. */
  protocolVersion?: 4 | 5;
};

/** The site of devices on a test stack: its broker, the fleet CA and the stack's registry. */
export function siteOn(
  ca: { certPem: string },
  broker: { url: string },
  stack: { chainId: number; contracts: { oracle: Hex } },
): AgentSite {
  return {
    brokerUrl: broker.url,
    caPem: ca.certPem,
    domain: { chainId: stack.chainId, registry: stack.contracts.oracle },
  };
}

/**
 * A started agent for an issued device: its certificate and key for mTLS, its reading key in a
 * software signer (unless `options` brings another signer), and any other agent settings.
 */
export async function startDeviceAgent(
  d: IssuedDevice,
  { brokerUrl, caPem, domain, protocolVersion }: AgentSite,
  options: Partial<Omit<DeviceAgentParameters, "deviceName" | "domain" | "mqtt">> = {},
): Promise<DeviceAgent> {
  const agent = new DeviceAgent({
    deviceName: d.name,
    signer: new SoftwareSigner(d.curve, d.readingSecretKey, { warn: () => {} }),
    domain,
    mqtt: {
      url: brokerUrl,
      ca: caPem,
      cert: d.certPem,
      key: d.keyPem,
      ...(protocolVersion === undefined ? {} : { protocolVersion }),
    },
    ...options,
  });
  await agent.start();
  return agent;
}
