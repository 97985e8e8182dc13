import type { Pkcs11Token } from "../../device-agent/pkcs11-signer.js";
import type { CurveName } from "../../protocol/index.js";
import type { FleetCa } from "../pki/fleet-ca.js";
import { registerDevice, type Stack } from "./stack.js";

export type TokenDevice = {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  certPem: string;
  /** Label of the key that signs readings. */
  readingLabel: string;
  /** Label of the P-256 key the TLS client authenticates with (the reading key for P-256). */
  tlsLabel: string;
  readingPublicKey: Uint8Array;
};

/**
 * Enrol a device whose keys live in a PKCS#11 token: generate the reading key (and for secp256k1
 * a P-256 TLS key) inside the token, certify the public keys with the fleet CA, register on-chain.
 */
export async function enrollTokenDevice(p: {
  token: Pkcs11Token;
  curve: CurveName;
  label: string;
  ca: FleetCa;
  stack?: Stack;
  notAfter?: Date;
}): Promise<TokenDevice> {
  const readingLabel = p.label;
  const readingPublicKey = p.token.generateKey({ curve: p.curve, label: readingLabel });
  const tlsLabel = p.curve === "p256" ? readingLabel : `${p.label}-tls`;
  const tlsPublicKey =
    p.curve === "p256" ? readingPublicKey : p.token.generateKey({ curve: "p256", label: tlsLabel });
  const cert = await p.ca.issueDeviceForKeys({
    curve: p.curve,
    readingPublicKey,
    tlsPublicKey,
    ...(p.notAfter ? { notAfter: p.notAfter } : {}),
  });
  const device: TokenDevice = { ...cert, readingLabel, tlsLabel, readingPublicKey };
  if (p.stack) {
    await registerDevice(p.stack, { ...cert, readingPublicKey });
  }
  return device;
}
