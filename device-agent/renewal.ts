import { X509Certificate } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Hex } from "viem";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { generateDeviceKeys } from "../fleet/enroll.js";
import { type EstClientAuth, estEnroll, estInstructions } from "../fleet/enrolment-client.js";
import { EnrolmentClientError } from "../fleet/enrolment-errors.js";
import { readPrivateKeyFile, writePrivateKeyFile } from "../pki/key-file.js";
import { p256SecretFromPem, p256SecretToPem } from "../pki/pem.js";
import { type CurveName, publicKeyOf, randomSecretKey } from "../protocol/index.js";
import { createDeviceCsr, softwareCsrKey, tokenCsrKey } from "./csr.js";
import { Pkcs11Token } from "./pkcs11-signer.js";
import { tokenTlsContext } from "./tls.js";

/**
 * Renewal and rotation started by the device, over the fleet's enrolment endpoint (EST
 * simplereenroll, fleet/enrolment-server.ts), authenticated by its current certificate. Nothing of
 * the CA or the operator's chain key is needed here. The agent daemon calls `renewIfDue(config)`
 * on a timer (hourly is plenty); `agent renew` calls it once.
 *
 * - The endpoint says the operator queued a rotation: a new key (in the token, or new files for
 *   development keys), its CSR under the device's name, the new certificate; the config is
 *   rewritten to name the new key. Readings already signed keep verifying on-chain (the
 *   registry's `rotate` keeps the old key for readings signed before the rotation time).
 * - Otherwise, past `fraction` (default 2/3) of the certificate's life: a CSR for the same key,
 *   a new certificate written over the old one (atomically).
 */

/** The fields of the agent config (cli/agent-config.ts) renewal reads and rewrites. */
export type RenewableConfig = {
  deviceName: string;
  curve: CurveName;
  certFile: string;
  caFile: string;
  token?: {
    modulePath: string;
    tokenLabel: string;
    pinFile: string;
    readingLabel: string;
    tlsLabel: string;
    engine?: string;
  };
  software?: { keyFile: string; readingKeyFile?: string };
  chainId?: number;
  registry?: Hex;
  /** The enrolment endpoint (https://host:port), written by `agent enrol`. */
  enrolUrl?: string;
};

export const DEFAULT_RENEWAL_FRACTION = 2 / 3;

/** When a certificate is due for renewal: `fraction` of the way from notBefore to notAfter. */
export function renewalTime(certPem: string, fraction = DEFAULT_RENEWAL_FRACTION): Date {
  const c = new X509Certificate(certPem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return new Date(from + (to - from) * fraction);
}

export type RenewalOutcome = {
  action: "none" | "renewed" | "rotated";
  config: RenewableConfig;
  /** After a rotation: the time (unix seconds) from which the new key is in force in the registry. */
  rotatedAt?: number;
  /** The certificate now in force (PEM). */
  certPem: string;
  /** When the next renewal is due. */
  nextRenewal: Date;
};

export type RenewIfDueOptions = {
  /** Where the config lives: rewritten after a rotation (new key names). */
  configFile: string;
  /** The endpoint, when the config names none. */
  url?: string;
  now?: Date;
  fraction?: number;
  /** Renew now whatever the date (`agent renew --now`). */
  force?: boolean;
  /**
   * The running agent, when it renews itself (self-renewal.ts): a rotation holds its readings from
   * the rotation time on until it has the new key (DeviceAgent.hold), so that no reading is signed
   * with a key the registry no longer takes for its time. After a rotation the hold stays on: the
   * caller switches the agent to the new key (DeviceAgent.rotate), which releases it. On failure
   * it is released (the old key stays in force).
   */
  rotationHold?: { hold(from: bigint): void; release(): void };
};

function writeAtomically(file: string, body: string, mode?: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, body, mode !== undefined ? { mode } : {});
  renameSync(tmp, file);
}

/** The device's keys as renewal needs them: TLS authentication and CSR signing. */
type DeviceKeys = {
  auth: EstClientAuth;
  csr(p: { readingPublicKey: Uint8Array; tlsLabel?: string }): Promise<string>;
  readingPublicKey: Uint8Array;
  close(): void;
};

function openKeys(config: RenewableConfig, certPem: string, ca: string): DeviceKeys {
  if (config.token) {
    const t = config.token;
    const token = Pkcs11Token.open({
      modulePath: t.modulePath,
      token: { label: t.tokenLabel },
      pin: { file: t.pinFile },
    });
    return {
      auth: {
        secureContext: tokenTlsContext({
          ca,
          cert: certPem,
          token: t.tokenLabel,
          keyLabel: t.tlsLabel,
          pinFile: t.pinFile,
          engine: t.engine,
        }),
      },
      readingPublicKey: token.publicKey(t.readingLabel),
      csr: (p) =>
        createDeviceCsr({
          tlsKey: tokenCsrKey(token, p.tlsLabel ?? t.tlsLabel),
          curve: config.curve,
          readingPublicKey: p.readingPublicKey,
          deviceName: config.deviceName,
        }),
      close: () => token.close(),
    };
  }
  if (config.software) {
    const keyPem = readPrivateKeyFile(config.software.keyFile);
    const tlsSecret = p256SecretFromPem(keyPem);
    const readingSecret =
      config.curve === "p256"
        ? tlsSecret
        : Buffer.from(readPrivateKeyFile(config.software.readingKeyFile ?? "").trim(), "hex");
    return {
      auth: { cert: certPem, key: keyPem, ca },
      readingPublicKey: publicKeyOf(config.curve, readingSecret),
      csr: (p) =>
        createDeviceCsr({
          tlsKey: softwareCsrKey(tlsSecret),
          curve: config.curve,
          readingPublicKey: p.readingPublicKey,
          deviceName: config.deviceName,
        }),
      close: () => {},
    };
  }
  throw new EnrolmentClientError("no_endpoint", "The agent config names neither a token nor software keys.");
}

/**
 * Ask the enrolment endpoint what the fleet wants and do it: rotate (queued by the operator),
 * renew (due, or forced), or nothing. Throws EnrolmentClientError when the endpoint refuses or
 * cannot be reached: the current certificate and keys are left as they were.
 */
export async function renewIfDue(config: RenewableConfig, o: RenewIfDueOptions): Promise<RenewalOutcome> {
  const url = o.url ?? config.enrolUrl;
  if (!url)
    throw new EnrolmentClientError(
      "no_endpoint",
      "No enrolment endpoint: the config names none (agent enrol writes it), and none was given.",
    );
  const now = o.now ?? new Date();
  const certPem = readFileSync(config.certFile, "utf8");
  const ca = readFileSync(config.caFile, "utf8");
  const keys = openKeys(config, certPem, ca);
  try {
    const { rotate } = await estInstructions(url, keys.auth);
    if (rotate) return await rotateKey(config, o, url, keys);
    if (!o.force && now < renewalTime(certPem, o.fraction))
      return { action: "none", config, certPem, nextRenewal: renewalTime(certPem, o.fraction) };
    const csr = await keys.csr({ readingPublicKey: keys.readingPublicKey });
    const renewed = await askingAgain(() => estEnroll(url, keys.auth, csr, true));
    checkIssuedFor(renewed, config.deviceName, keys.readingPublicKey);
    writeAtomically(config.certFile, renewed);
    return { action: "renewed", config, certPem: renewed, nextRenewal: renewalTime(renewed, o.fraction) };
  } finally {
    keys.close();
  }
}

/** Attempts at a re-enrolment whose answer did not come (unreachable, or unreadable), 2 s apart. */
const REENROL_ATTEMPTS = 3;

/**
 * A re-enrolment, asked again (the same request) when no answer came: the endpoint may have
 * issued (and rotated on-chain) before the answer was lost. A refusal is final at once.
 */
async function askingAgain(request: () => Promise<string>): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      const unanswered = err instanceof EnrolmentClientError && err.code !== "refused";
      if (!unanswered || attempt >= REENROL_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

function checkIssuedFor(certPem: string, name: string, readingPublicKey: Uint8Array): void {
  const dc = parseDeviceCertificate(certPem);
  if (dc.name !== name || Buffer.compare(dc.readingPublicKey, readingPublicKey) !== 0)
    throw new EnrolmentClientError(
      "bad_response",
      "The endpoint issued a certificate for another key or name.",
      {
        details: `certificate for ${dc.name}`,
      },
    );
}

/** A new key, its CSR, the new certificate, and the config rewritten to name the new key. */
async function rotateKey(
  config: RenewableConfig,
  o: RenewIfDueOptions,
  url: string,
  keys: DeviceKeys,
): Promise<RenewalOutcome> {
  const stamp = Date.now().toString(36);
  let next: RenewableConfig;
  let readingPublicKey: Uint8Array;
  let csr: string;
  if (config.token) {
    const t = config.token;
    const token = Pkcs11Token.open({
      modulePath: t.modulePath,
      token: { label: t.tokenLabel },
      pin: { file: t.pinFile },
    });
    try {
      const label = `${t.readingLabel.replace(/-r[0-9a-z]+$/, "")}-r${stamp}`;
      const made = generateDeviceKeys(token, config.curve, label);
      readingPublicKey = made.readingPublicKey;
      csr = await createDeviceCsr({
        tlsKey: tokenCsrKey(token, made.tlsLabel),
        curve: config.curve,
        readingPublicKey,
        deviceName: config.deviceName,
      });
      next = { ...config, token: { ...t, readingLabel: label, tlsLabel: made.tlsLabel } };
    } finally {
      token.close();
    }
  } else {
    const sw = config.software as NonNullable<RenewableConfig["software"]>;
    const dir = dirname(sw.keyFile);
    const tlsSecret = randomSecretKey("p256");
    const readingSecret = config.curve === "p256" ? tlsSecret : randomSecretKey("secp256k1");
    readingPublicKey = publicKeyOf(config.curve, readingSecret);
    const keyFile = join(dir, `tls-${stamp}.key`);
    writePrivateKeyFile(keyFile, p256SecretToPem(tlsSecret));
    const readingKeyFile = config.curve === "secp256k1" ? join(dir, `reading-${stamp}.key`) : undefined;
    if (readingKeyFile)
      writePrivateKeyFile(readingKeyFile, `${Buffer.from(readingSecret).toString("hex")}\n`);
    csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve: config.curve,
      readingPublicKey,
      deviceName: config.deviceName,
    });
    next = { ...config, software: { keyFile, ...(readingKeyFile ? { readingKeyFile } : {}) } };
  }
  // The rotation time: the next whole second. Readings of earlier times keep the old key; from it
  // on they wait for the new one (rotationHold). Asked once the clock has passed it (the registry
  // takes no rotation time ahead of the chain's).
  const at = Math.floor(Date.now() / 1000) + 1;
  o.rotationHold?.hold(BigInt(at));
  let cert: string;
  try {
    await new Promise((r) => setTimeout(r, Math.max(0, at * 1000 - Date.now() + 20)));
    // The request goes over the connection the current certificate authenticates. An answer lost
    // after the endpoint rotated is asked for again with the same request: the endpoint answers
    // the replaced certificate with the one it issued (for a few minutes after).
    cert = await askingAgain(() => estEnroll(url, keys.auth, csr, true, at));
    checkIssuedFor(cert, config.deviceName, readingPublicKey);
  } catch (err) {
    o.rotationHold?.release();
    throw err;
  }
  // The config first: an agent (re)started between the two writes must find the config naming the
  // new key, not the old one beside the new certificate.
  writeAtomically(o.configFile, `${JSON.stringify(next, null, 2)}\n`);
  writeAtomically(config.certFile, cert);
  return { action: "rotated", config: next, certPem: cert, nextRenewal: renewalTime(cert), rotatedAt: at };
}
