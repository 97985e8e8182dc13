import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDeviceCertificate } from "../../bridge/certificates.js";
import { createDeviceCsr, softwareCsrKey, tokenCsrKey } from "../../device-agent/csr.js";
import type { Pkcs11Token } from "../../device-agent/pkcs11-signer.js";
import { generateDeviceKeys } from "../../fleet/enroll.js";
import type { DeviceSettingsBundle } from "../../fleet/settings-bundle.js";
import { readPrivateKeyFile, writePrivateKeyFile } from "../../pki/key-file.js";
import { p256SecretFromPem, p256SecretToPem } from "../../pki/pem.js";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  publicKeyOf,
  randomSecretKey,
  SensorOracleError,
} from "../../protocol/index.js";
import type { AgentConfig } from "../agent-config.js";
import { args, need, type Options, progress, UsageError } from "../args.js";
import { openToken } from "./token.js";

/**
 * The device's side of enrolment, run on the device with nothing but its token (or, for
 * development, a folder of software keys) and the fleet's public settings: `agent keygen` makes
 * the keys, `agent csr` the request the operator certifies (`device enroll --csr`), and
 * `agent install` makes the agent's config from the settings bundle the operator sends back.
 * The CA's key and the operator's chain key are never needed here.
 */

const TOKEN_OPTIONS = {
  label: "string",
  module: "string",
  "token-label": "string",
  "pin-file": "string",
} as const;
const SOFTWARE_OPTIONS = { software: "boolean", "keys-dir": "string" } as const;

/** The software key files of a development device. */
const softwareFiles = (dir: string) => ({ tls: join(dir, "tls.key"), reading: join(dir, "reading.key") });

function curveOf(v: Options): CurveName {
  const curve = need(v, "curve");
  if (curve !== "p256" && curve !== "secp256k1") throw new UsageError("--curve must be p256 or secp256k1");
  return curve;
}

function checkKeyOptions(v: Options): void {
  if (v.software && (v.module || v["token-label"] || v.label))
    throw new UsageError("--software takes no token options");
  if (!v.software && v["keys-dir"]) throw new UsageError("--keys-dir goes with --software");
}

/** The token's TLS key label for a reading key label (generateDeviceKeys' convention). */
const tlsLabelOf = (curve: CurveName, label: string) => (curve === "p256" ? label : `${label}-tls`);

/** The software keys of a development device (refused when group or others can read them). */
function readSoftwareKeys(
  dir: string,
  curve: CurveName,
): { tlsSecret: Uint8Array; readingSecret: Uint8Array } {
  const f = softwareFiles(dir);
  const tlsSecret = p256SecretFromPem(readPrivateKeyFile(f.tls));
  const readingSecret =
    curve === "p256" ? tlsSecret : Buffer.from(readPrivateKeyFile(f.reading).trim(), "hex");
  return { tlsSecret, readingSecret };
}

/** `agent keygen`: the device's keys, in its token (or in owner-only files for development). */
export async function agentKeygen(argv: string[]): Promise<string> {
  const v = args(argv, { curve: "string", ...TOKEN_OPTIONS, ...SOFTWARE_OPTIONS });
  checkKeyOptions(v);
  const curve = curveOf(v);
  if (v.software) {
    const dir = resolve(need(v, "keys-dir"));
    const f = softwareFiles(dir);
    if (existsSync(f.tls)) throw new SensorOracleError(`Keys already exist in ${dir}.`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    progress(`generating a software ${curve} key: development only, the key is kept in a file`);
    const tlsSecret = randomSecretKey("p256");
    const readingSecret = curve === "p256" ? tlsSecret : randomSecretKey("secp256k1");
    writePrivateKeyFile(f.tls, p256SecretToPem(tlsSecret));
    if (curve === "secp256k1")
      writePrivateKeyFile(f.reading, `${Buffer.from(readingSecret).toString("hex")}\n`);
    const name = deviceIdToName(deviceIdOf(curve, publicKeyOf(curve, readingSecret)));
    return `device ${name} (${curve}): software keys in ${dir} (development only)`;
  }
  const label = need(v, "label");
  const { token, tokenLabel } = openToken(v);
  try {
    progress(`generating a ${curve} key in the token (sensitive, not extractable)`);
    const { readingPublicKey, tlsLabel } = generateDeviceKeys(token, curve, label);
    const name = deviceIdToName(deviceIdOf(curve, readingPublicKey));
    return `device ${name} (${curve}): keys "${label}"${tlsLabel !== label ? ` and "${tlsLabel}" (TLS)` : ""} in token "${tokenLabel}"`;
  } finally {
    token.close();
  }
}

/**
 * `agent csr`: the PKCS#10 request, signed by the device's TLS key in the token, naming the
 * device and (secp256k1) its reading key. --name keeps an enrolled device's name (a new key).
 */
export async function agentCsr(argv: string[]): Promise<string> {
  const v = args(argv, {
    curve: "string",
    out: "string",
    name: "string",
    ...TOKEN_OPTIONS,
    ...SOFTWARE_OPTIONS,
  });
  checkKeyOptions(v);
  const curve = curveOf(v);
  const out = resolve(need(v, "out"));
  let csr: string;
  if (v.software) {
    const { tlsSecret, readingSecret } = readSoftwareKeys(resolve(need(v, "keys-dir")), curve);
    csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve,
      readingPublicKey: publicKeyOf(curve, readingSecret),
      ...(v.name ? { deviceName: v.name } : {}),
    });
  } else {
    const label = need(v, "label");
    const { token } = openToken(v);
    try {
      progress("the token signs the certificate request");
      csr = await tokenCsr(token, curve, label, v.name);
    } finally {
      token.close();
    }
  }
  writeFileSync(out, csr);
  return `certificate request written to ${out}: send it to the fleet operator (device enroll --csr)`;
}

function tokenCsr(token: Pkcs11Token, curve: CurveName, label: string, name?: string): Promise<string> {
  const tlsLabel = tlsLabelOf(curve, label);
  for (const l of new Set([label, tlsLabel]))
    if (!token.hasKey(l))
      throw new SensorOracleError(`The token holds no key labelled "${l}": run agent keygen first.`);
  return createDeviceCsr({
    tlsKey: tokenCsrKey(token, tlsLabel),
    curve,
    readingPublicKey: token.publicKey(label),
    ...(name ? { deviceName: name } : {}),
  });
}

/**
 * `agent install`: the agent's config from the operator's settings bundle, beside the device's
 * keys; the bundle's certificate must carry those keys. Prints how to start the agent.
 */
export async function agentInstall(argv: string[]): Promise<string> {
  const v = args(argv, { bundle: "string", "config-dir": "string", ...TOKEN_OPTIONS, ...SOFTWARE_OPTIONS });
  checkKeyOptions(v);
  const bundle = JSON.parse(readFileSync(need(v, "bundle"), "utf8")) as DeviceSettingsBundle;
  if (bundle.version !== 1 || !bundle.certificate || !bundle.caChain)
    throw new SensorOracleError("Not a settings bundle (device enroll writes them).", {
      details: v.bundle as string,
    });
  if (bundle.chainId === undefined || !bundle.registry)
    throw new SensorOracleError(
      "The settings bundle names no chain and registry: the fleet has no chain configured.",
    );
  const dc = parseDeviceCertificate(bundle.certificate);
  const curve = bundle.curve;
  const dir = resolve(need(v, "config-dir"));
  mkdirSync(dir, { recursive: true });
  let keys: Pick<AgentConfig, "token"> | Pick<AgentConfig, "software">;
  let readingPublicKey: Uint8Array;
  if (v.software) {
    const keysDir = resolve(need(v, "keys-dir"));
    const { readingSecret } = readSoftwareKeys(keysDir, curve);
    readingPublicKey = publicKeyOf(curve, readingSecret);
    const f = softwareFiles(keysDir);
    keys = { software: { keyFile: f.tls, ...(curve === "secp256k1" ? { readingKeyFile: f.reading } : {}) } };
  } else {
    const label = need(v, "label");
    const { token, modulePath, tokenLabel, pinFile } = openToken(v);
    try {
      readingPublicKey = token.publicKey(label);
    } finally {
      token.close();
    }
    keys = {
      token: {
        modulePath,
        tokenLabel,
        pinFile,
        readingLabel: label,
        tlsLabel: tlsLabelOf(curve, label),
      },
    };
  }
  if (Buffer.compare(dc.readingPublicKey, readingPublicKey) !== 0)
    throw new SensorOracleError("The bundle's certificate is not for this device's key.", {
      details: `certificate for ${dc.name}`,
    });
  const { configFile, run } = writeAgentConfig(bundle, dir, keys);
  return `agent config written to ${configFile}; start it with: ${run}`;
}

/**
 * The agent's config, certificate and CA chain from a settings bundle, beside the device's keys
 * (`agent install`, `agent enrol`); `extra` adds fields (the enrolment endpoint). Returns the
 * config file and the command that starts the agent.
 */
export function writeAgentConfig(
  bundle: DeviceSettingsBundle,
  dir: string,
  keys: Pick<AgentConfig, "token"> | Pick<AgentConfig, "software">,
  extra: Record<string, string> = {},
): { configFile: string; run: string } {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${bundle.deviceName}.pem`);
  const caFile = join(dir, "ca-chain.pem");
  writeFileSync(certFile, bundle.certificate);
  writeFileSync(caFile, bundle.caChain);
  const config: AgentConfig & Record<string, unknown> = {
    deviceName: bundle.deviceName,
    curve: bundle.curve,
    certFile,
    caFile,
    ...keys,
    ...(bundle.chainId !== undefined ? { chainId: bundle.chainId } : {}),
    ...(bundle.registry ? { registry: bundle.registry } : {}),
    ...extra,
  };
  const configFile = join(dir, `${bundle.deviceName}.json`);
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const run = `sensor-oracle agent run --config ${configFile} --url ${bundle.brokerUrl ?? "<mqtts://broker:port>"}${bundle.feeds[0] ? ` --feed ${bundle.feeds[0]}` : ""}`;
  return { configFile, run };
}
