import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createDeviceCsr, softwareCsrKey, tokenCsrKey } from "../../device-agent/csr.js";
import { type RenewableConfig, renewIfDue } from "../../device-agent/renewal.js";
import { tokenTlsContext } from "../../device-agent/tls.js";
import { type WipeConfig, wipeDevice } from "../../device-agent/wipe.js";
import { type EstClientAuth, estEnroll, estSettings } from "../../fleet/enrolment-client.js";
import { EnrolmentClientError } from "../../fleet/enrolment-errors.js";
import { readPrivateKeyFile } from "../../pki/key-file.js";
import { p256SecretFromPem } from "../../pki/pem.js";
import { publicKeyOf, SensorOracleError } from "../../protocol/index.js";
import { args, need, progress, UsageError } from "../args.js";
import { writeAgentConfig } from "./agent-keys.js";
import { openToken } from "./token.js";

/**
 * The device's side of the enrolment endpoint: `agent enrol` (zero-touch: the factory key and its
 * manufacturer certificate get the device a fleet certificate and its settings), `agent renew`
 * (renewal or the rotation the operator queued), `agent wipe` (a decommissioned device's keys
 * and state destroyed once its readings are acknowledged).
 */

/** `agent enrol`: zero-touch enrolment with the factory key (P-256) and its manufacturer certificate. */
export async function agentEnrol(argv: string[]): Promise<string> {
  const v = args(argv, {
    url: "string",
    ca: "string",
    "factory-cert": "string",
    "config-dir": "string",
    label: "string",
    module: "string",
    "token-label": "string",
    "pin-file": "string",
    software: "boolean",
    "keys-dir": "string",
  });
  const url = need(v, "url");
  if (!url.startsWith("https://"))
    throw new UsageError("--url must be https://host:port of the enrolment endpoint");
  const ca = readFileSync(need(v, "ca"), "utf8");
  const factoryCert = readFileSync(need(v, "factory-cert"), "utf8");
  const dir = resolve(need(v, "config-dir"));
  if (v.software && (v.module || v.label)) throw new UsageError("--software takes no token options");
  let auth: EstClientAuth;
  let csr: string;
  let keys: Parameters<typeof writeAgentConfig>[2];
  let close = () => {};
  if (v.software) {
    const keyFile = join(resolve(need(v, "keys-dir")), "tls.key");
    const keyPem = readPrivateKeyFile(keyFile);
    const secret = p256SecretFromPem(keyPem);
    auth = { cert: factoryCert, key: keyPem, ca };
    csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(secret),
      curve: "p256",
      readingPublicKey: publicKeyOf("p256", secret),
    });
    keys = { software: { keyFile } };
  } else {
    const label = need(v, "label");
    const { token, modulePath, tokenLabel, pinFile } = openToken(v);
    close = () => token.close();
    if (!token.hasKey(label)) throw new SensorOracleError(`The token holds no key labelled "${label}".`);
    progress("the token signs the certificate request with the factory key");
    csr = await createDeviceCsr({
      tlsKey: tokenCsrKey(token, label),
      curve: "p256",
      readingPublicKey: token.publicKey(label),
    });
    auth = {
      secureContext: tokenTlsContext({ ca, cert: factoryCert, token: tokenLabel, keyLabel: label, pinFile }),
    };
    keys = {
      token: {
        modulePath,
        tokenLabel,
        pinFile,
        readingLabel: label,
        tlsLabel: label,
      },
    };
  }
  try {
    progress(`enrolling at ${url} with the manufacturer certificate (EST simpleenroll)`);
    const cert = await estEnroll(url, auth, csr);
    progress("certificate received; fetching the fleet's settings with it");
    const fleetAuth: EstClientAuth =
      "secureContext" in auth
        ? {
            secureContext: tokenTlsContext({
              ca,
              cert,
              token: (keys as { token: { tokenLabel: string } }).token.tokenLabel,
              keyLabel: (keys as { token: { tlsLabel: string } }).token.tlsLabel,
              pinFile: (keys as { token: { pinFile: string } }).token.pinFile,
            }),
          }
        : { ...auth, cert };
    const bundle = await estSettings(url, fleetAuth);
    if (bundle.certificate.replace(/\s+/g, "") !== cert.replace(/\s+/g, ""))
      throw new EnrolmentClientError(
        "bad_response",
        "The settings name another certificate than the one issued.",
      );
    const { configFile, run } = writeAgentConfig(bundle, dir, keys, { enrolUrl: url });
    return `device ${bundle.deviceName} enrolled zero-touch: agent config written to ${configFile}; start it with: ${run}`;
  } finally {
    close();
  }
}

/** `agent renew`: renewal when due (or --now), or the key rotation the operator queued. */
export async function agentRenew(argv: string[]): Promise<string> {
  const v = args(argv, { config: "string", url: "string", now: "boolean", fraction: "string" });
  const configFile = resolve(need(v, "config"));
  const config = JSON.parse(readFileSync(configFile, "utf8")) as RenewableConfig & {
    health?: { port: number; host?: string };
  };
  // A running agent renews and rotates itself (device-agent/self-renewal.ts). Done from here, a
  // rotation would leave it signing with the old key until it restarts: readings then refused.
  if (
    config.health &&
    (await answers(`http://${config.health.host ?? "127.0.0.1"}:${config.health.port}/healthz`))
  )
    throw new SensorOracleError(
      "The agent is running (its health endpoint answers): it renews and rotates its key itself, at its next check (renewal.checkEverySeconds). Stop it first to renew from here.",
      { details: `health port ${config.health.port}` },
    );
  progress(
    `asking ${v.url ?? config.enrolUrl ?? "the enrolment endpoint"} what the fleet wants of this device`,
  );
  const r = await renewIfDue(config, {
    configFile,
    ...(v.url ? { url: v.url } : {}),
    ...(v.now ? { force: true } : {}),
    ...(v.fraction ? { fraction: Number(v.fraction) } : {}),
  });
  const next = `next renewal due ${r.nextRenewal.toISOString()}`;
  if (r.action === "none") return `device ${config.deviceName}: nothing to do, ${next}`;
  if (r.action === "renewed") return `device ${config.deviceName} renewed its certificate; ${next}`;
  return `device ${config.deviceName} rotated to a new key as the operator asked; certificate and config updated, ${next}`;
}

/** Whether something answers HTTP at `url` within a second. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

/** `agent wipe`: destroy the device's keys and state once every reading is acknowledged. */
export async function agentWipe(argv: string[]): Promise<string> {
  const v = args(argv, { config: "string", "discard-unacknowledged": "boolean" });
  const configFile = resolve(need(v, "config"));
  if (!existsSync(configFile))
    throw new SensorOracleError("Agent config not found.", { details: configFile });
  const config = JSON.parse(readFileSync(configFile, "utf8")) as WipeConfig;
  progress(`checking that device ${config.deviceName.slice(0, 8)}… has no unacknowledged reading`);
  const r = await wipeDevice(config, {
    configFile,
    ...(v["discard-unacknowledged"] ? { discardUnacknowledged: true } : {}),
  });
  const keys = config.token
    ? `${r.keyObjects} key objects destroyed in token "${config.token.tokenLabel}"`
    : `${r.keyFiles} key files overwritten and removed`;
  const lost =
    r.discarded > 0
      ? `, ${Number.isFinite(r.discarded) ? r.discarded : "uncounted"} unacknowledged readings discarded`
      : "";
  return `device ${config.deviceName} wiped: ${keys}, ${r.stateFiles} state, certificate and config files removed${lost}`;
}
