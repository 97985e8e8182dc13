// sensor-oracle: one command per fleet task. Progress goes to stderr, the one-line result to
// stdout; every failure is one line on stderr and exit code 1 (2 for a usage error). Secrets
// (PINs, the operator's key) come from files or the environment, never from the command line.
import { createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, defineChain, type Hex, http, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { readPrivateKey } from "../bridge/config.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { DeviceAgent } from "../device-agent/agent.js";
import { createDeviceCsr, softwareCsrKey } from "../device-agent/csr.js";
import { Pkcs11Token } from "../device-agent/pkcs11-signer.js";
import { type ReadingSigner, SoftwareSigner } from "../device-agent/signer.js";
import { DEFAULT_PKCS11_ENGINE, tokenTlsContext } from "../device-agent/tls.js";
import { certifyTokenKeys, generateDeviceKeys } from "../fleet/enroll.js";
import {
  createFleetCa,
  FLEET_CA_FILES,
  type IssuedDeviceFromCsr,
  loadFleetCa,
  saveFleetCa,
} from "../pki/fleet-ca.js";
import {
  Curve,
  type CurveName,
  deviceNameToId,
  feedIdOf,
  publicKeyOf,
  randomSecretKey,
  SensorOracleError,
  splitPublicKey,
} from "../protocol/index.js";

const USAGE = `usage: sensor-oracle <command> [options]

  ca init        --dir <fleet> [--name <fleet name>] [--rpc-url <url> --chain-id <n> --registry <0x..> --operator-key-file <file>]
                 [--bridge-url <http://bridge:port>]
  broker config  --dir <fleet> --port <port> [--host <name>] [--bridge-cn <cn>]
  device enroll  --dir <fleet> --curve p256|secp256k1 --label <key label>
                 --module <pkcs11 .so> --token-label <label> --pin-file <file>
  device enroll  --dir <fleet> --curve p256|secp256k1 --software   (development: keys in files)
  device rotate  --dir <fleet> --name <device name> --label <new key label>
                 --module <pkcs11 .so> --token-label <label> --pin-file <file>
  device revoke  --dir <fleet> --name <device name> [--since <unix seconds>]
  device list    --dir <fleet> [--bridge-url <url>]
  device status  --dir <fleet> --name <device name> [--bridge-url <url>]
  agent run      --config <fleet>/agents/<name>.json --url <mqtts://host:port> [--feed <name>] [--count <n>] [--interval-ms <ms>]
  token check    --module <pkcs11 .so> (--token-label <l> | --token-serial <s>) (--pin-file <f> | --pin-env <VAR>)
`;

class UsageError extends Error {}
const progress = (msg: string) => process.stderr.write(`  ${msg}\n`);

type FleetConfig = {
  name: string;
  /** The bridge's HTTP API, where `device list` and `device status` look up the last reading seen. */
  bridgeUrl?: string;
  chain?: { rpcUrl: string; chainId: number; registry: Hex; operatorKeyFile: string };
};

function args<S extends Record<string, "string" | "boolean">>(
  argv: string[],
  spec: S,
): { [K in keyof S]?: S[K] extends "boolean" ? boolean : string } {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }])),
    strict: true,
  });
  return values as { [K in keyof S]?: S[K] extends "boolean" ? boolean : string };
}

function need(v: Record<string, string | boolean | undefined>, key: string): string {
  const x = v[key];
  if (typeof x !== "string" || !x) throw new UsageError(`--${key} is required`);
  return x;
}

/** What `agent run` reads: written by `device enroll`, updated by `device rotate`. */
type AgentConfig = {
  deviceName: string;
  curve: CurveName;
  certFile: string;
  caFile: string;
  /** Keys in a PKCS#11 token. */
  token?: {
    modulePath: string;
    tokenLabel: string;
    pinFile: string;
    readingLabel: string;
    tlsLabel: string;
    engine: string;
  };
  /** Software keys in files (development only): the P-256 TLS key, and a secp256k1 reading key. */
  software?: { keyFile: string; readingKeyFile?: string };
  chainId?: number;
  registry?: Hex;
};

function fleet(dir: string): FleetConfig {
  const f = join(dir, "fleet.json");
  if (!existsSync(f))
    throw new SensorOracleError(`No fleet in ${dir}: run "sensor-oracle ca init --dir ${dir}" first.`);
  return JSON.parse(readFileSync(f, "utf8")) as FleetConfig;
}

function chainClients(cfg: NonNullable<FleetConfig["chain"]>) {
  const chain = defineChain({
    id: cfg.chainId,
    name: `chain-${cfg.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [cfg.rpcUrl] } },
  });
  const transport = http(cfg.rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient;
  const wallet = createWalletClient({
    chain,
    transport,
    account: privateKeyToAccount(readPrivateKey(cfg.operatorKeyFile)),
  });
  return { publicClient, wallet };
}

/** The token named by --module, --token-label and --pin-file, logged in. */
function openToken(v: Record<string, string | boolean | undefined>) {
  const modulePath = need(v, "module");
  const tokenLabel = need(v, "token-label");
  const pinFile = resolve(need(v, "pin-file"));
  progress(`opening token "${tokenLabel}"`);
  const token = Pkcs11Token.open({ modulePath, token: { label: tokenLabel }, pin: { file: pinFile } });
  return { token, modulePath, tokenLabel, pinFile };
}

/** Send one registry transaction and wait for it; returns the block it landed in. */
async function registryTx(
  chain: NonNullable<FleetConfig["chain"]>,
  what: string,
  request: { functionName: "register" | "rotate" | "revoke"; args: readonly unknown[] },
): Promise<bigint> {
  const { publicClient, wallet } = chainClients(chain);
  const hash = await wallet.writeContract({
    address: chain.registry,
    abi: sensorOracleAbi,
    ...request,
  } as never);
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new SensorOracleError(`${what} transaction ${hash} reverted.`);
  return receipt.blockNumber;
}

async function caInit(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    "bridge-url": "string",
    "rpc-url": "string",
    "chain-id": "string",
    registry: "string",
    "operator-key-file": "string",
  });
  const dir = resolve(need(v, "dir"));
  if (existsSync(join(dir, "fleet.json"))) throw new SensorOracleError(`A fleet already exists in ${dir}.`);
  const name = v.name ?? "sensor-oracle fleet";
  progress(`creating root and issuing CA "${name}" in ${dir}`);
  const ca = await createFleetCa({ commonName: name });
  await saveFleetCa(ca, join(dir, "ca"));
  const cfg: FleetConfig = { name };
  if (v["rpc-url"]) {
    cfg.chain = {
      rpcUrl: v["rpc-url"],
      chainId: Number(need(v, "chain-id")),
      registry: need(v, "registry") as Hex,
      operatorKeyFile: resolve(need(v, "operator-key-file")),
    };
    readPrivateKey(cfg.chain.operatorKeyFile); // fail now, not at the first enrolment
  }
  for (const sub of ["devices", "agents"]) mkdirSync(join(dir, sub), { recursive: true });
  if (v["bridge-url"]) cfg.bridgeUrl = new URL(v["bridge-url"]).toString().replace(/\/$/, "");
  writeFileSync(join(dir, "fleet.json"), `${JSON.stringify(cfg, null, 2)}\n`);
  return `fleet "${name}" created in ${dir} (keep ca/${FLEET_CA_FILES.rootKey} offline)${cfg.chain ? `, registry ${cfg.chain.registry}` : ""}`;
}

async function brokerConfig(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", port: "string", host: "string", "bridge-cn": "string" });
  const dir = resolve(need(v, "dir"));
  fleet(dir);
  const ca = await loadFleetCa(join(dir, "ca"));
  const host = v.host ?? "localhost";
  const bridgeCn = v["bridge-cn"] ?? "sensor-oracle-bridge";
  const out = join(dir, "broker");
  mkdirSync(out, { recursive: true });
  progress(`issuing the broker's certificate for ${host} and the bridge's client certificate (${bridgeCn})`);
  const server = await ca.issueServer({ commonName: host, dnsNames: [host, "localhost"] });
  const bridge = await ca.issueClient({ commonName: bridgeCn });
  const put = (name: string, body: string, mode = 0o644) => {
    writeFileSync(join(out, name), body, { mode });
    return join(out, name);
  };
  // Mosquitto started as root drops to user mosquitto: its key must be readable by it.
  put("server.pem", server.certPem);
  put("server.key", server.keyPem, 0o644);
  put("bridge.pem", bridge.certPem);
  put("bridge.key", bridge.keyPem, 0o600);
  put("ca-chain.pem", ca.certPem);
  put("crl.pem", await ca.crlPem());
  put(
    "acl",
    [
      `user ${bridgeCn}`,
      "topic read so/v1/devices/+/readings",
      "topic write so/v1/devices/+/acks",
      "",
      "pattern write so/v1/devices/%u/readings",
      "pattern read so/v1/devices/%u/acks",
      "",
    ].join("\n"),
  );
  put(
    "mosquitto.conf",
    [
      "# Generated by sensor-oracle broker config. Re-run after each revocation to refresh crl.pem,",
      "# or point crlfile at the fleet's crl.pem and reload Mosquitto (it reads CRLs at start).",
      "per_listener_settings false",
      "persistence false",
      `listener ${need(v, "port")}`,
      `cafile ${join(out, "ca-chain.pem")}`,
      `certfile ${join(out, "server.pem")}`,
      `keyfile ${join(out, "server.key")}`,
      `crlfile ${join(dir, "ca", FLEET_CA_FILES.crl)}`,
      "require_certificate true",
      "use_identity_as_username true",
      "tls_version tlsv1.3",
      `acl_file ${join(out, "acl")}`,
      "max_queued_messages 1000000",
      "max_inflight_messages 1000",
      "",
    ].join("\n"),
  );
  return `broker config written to ${join(out, "mosquitto.conf")} (bridge client certificate in ${out})`;
}

async function deviceEnroll(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    curve: "string",
    label: "string",
    module: "string",
    "token-label": "string",
    "pin-file": "string",
    software: "boolean",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = fleet(dir);
  const curve = need(v, "curve");
  if (curve !== "p256" && curve !== "secp256k1") throw new UsageError("--curve must be p256 or secp256k1");
  const ca = await loadFleetCa(join(dir, "ca"));
  let cert: IssuedDeviceFromCsr;
  let keys: Pick<AgentConfig, "token"> | Pick<AgentConfig, "software">;
  let where: string;
  if (v.software) {
    if (v.module || v["token-label"]) throw new UsageError("--software takes no token options");
    progress(`generating a software ${curve} key: development only, the key is kept in a file`);
    const tlsSecret = randomSecretKey("p256");
    const readingSecret = curve === "p256" ? tlsSecret : randomSecretKey("secp256k1");
    progress("signing the certificate request with the device key; the CA checks it");
    const csr = await createDeviceCsr({
      tlsKey: softwareCsrKey(tlsSecret),
      curve,
      readingPublicKey: publicKeyOf(curve, readingSecret),
    });
    cert = await ca.issueDeviceFromCsr(csr, { curve });
    mkdirSync(join(dir, "agents"), { recursive: true });
    const keyFile = join(dir, "agents", `${cert.name}.key`);
    writeFileSync(keyFile, p256SecretToPem(tlsSecret), { mode: 0o600 });
    const readingKeyFile = join(dir, "agents", `${cert.name}.reading-key`);
    if (curve === "secp256k1")
      writeFileSync(readingKeyFile, `${Buffer.from(readingSecret).toString("hex")}\n`, { mode: 0o600 });
    keys = { software: { keyFile, ...(curve === "secp256k1" ? { readingKeyFile } : {}) } };
    where = `software key in ${keyFile} (development only)`;
  } else {
    const label = need(v, "label");
    const { token, modulePath, tokenLabel, pinFile } = openToken(v);
    try {
      progress(`generating a ${curve} key in the token (sensitive, not extractable)`);
      const { readingPublicKey, tlsLabel } = generateDeviceKeys(token, curve, label);
      progress("the token signs the certificate request; the CA checks it and issues the certificate");
      cert = await certifyTokenKeys({ token, ca, curve, readingPublicKey, tlsLabel });
      keys = {
        token: {
          modulePath,
          tokenLabel,
          pinFile,
          readingLabel: label,
          tlsLabel,
          engine: DEFAULT_PKCS11_ENGINE,
        },
      };
      where = `key in token "${tokenLabel}"`;
    } finally {
      token.close();
    }
  }
  const certFile = join(dir, "devices", `${cert.name}.pem`);
  writeFileSync(certFile, cert.certPem);
  let registered = "not registered (no chain in fleet.json)";
  if (cfg.chain) {
    progress(`registering ${cert.deviceId} on chain ${cfg.chain.chainId}`);
    const { x, y } = splitPublicKey(cert.readingPublicKey);
    const dc = parseDeviceCertificate(cert.certPem);
    const block = await registryTx(cfg.chain, "Registration", {
      functionName: "register",
      args: [cert.deviceId, Curve[curve], x, y, dc.fingerprint, Math.floor(dc.notBefore.getTime() / 1000)],
    });
    registered = `registered in block ${block}`;
  }
  const agent: AgentConfig = {
    deviceName: cert.name,
    curve,
    certFile,
    caFile: join(dir, "ca", FLEET_CA_FILES.chain),
    ...keys,
    ...(cfg.chain ? { chainId: cfg.chain.chainId, registry: cfg.chain.registry } : {}),
  };
  const agentFile = join(dir, "agents", `${cert.name}.json`);
  writeFileSync(agentFile, `${JSON.stringify(agent, null, 2)}\n`);
  return `device ${cert.name} (${curve}) enrolled: ${where}, certificate ${certFile}, ${registered}, agent config ${agentFile}`;
}

/** A software P-256 secret as the PKCS#8 PEM a TLS client loads. */
function p256SecretToPem(secret: Uint8Array): string {
  const pub = publicKeyOf("p256", secret);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  return createPrivateKey({
    key: { kty: "EC", crv: "P-256", d: b64(secret), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) },
    format: "jwk",
  })
    .export({ type: "pkcs8", format: "pem" })
    .toString();
}

/** The secret of a P-256 PKCS#8 PEM key. */
function p256SecretFromPem(pem: string): Uint8Array {
  return Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d as string, "base64url");
}

async function deviceRotate(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    label: "string",
    module: "string",
    "token-label": "string",
    "pin-file": "string",
  });
  const dir = resolve(need(v, "dir"));
  const cfg = fleet(dir);
  const name = need(v, "name");
  const certFile = join(dir, "devices", `${name}.pem`);
  if (!existsSync(certFile)) throw new SensorOracleError(`No device ${name} in this fleet.`);
  const old = parseDeviceCertificate(readFileSync(certFile, "utf8"));
  const label = need(v, "label");
  const { token } = openToken(v);
  try {
    progress(`generating a ${old.curve} key in the token (sensitive, not extractable)`);
    const { readingPublicKey, tlsLabel } = generateDeviceKeys(token, old.curve, label);
    const ca = await loadFleetCa(join(dir, "ca"));
    progress("the token signs the certificate request; the CA checks it and issues the certificate");
    const cert = await certifyTokenKeys({
      token,
      ca,
      curve: old.curve,
      readingPublicKey,
      tlsLabel,
      deviceId: deviceNameToId(name),
    });
    const dc = parseDeviceCertificate(cert.certPem);
    let onChain = "not rotated on-chain (no chain in fleet.json)";
    if (cfg.chain) {
      const at = Math.floor(Date.now() / 1000);
      progress(`rotating the key of ${deviceNameToId(name)} on chain ${cfg.chain.chainId} from ${at}`);
      const { x, y } = splitPublicKey(readingPublicKey);
      const block = await registryTx(cfg.chain, "Rotation", {
        functionName: "rotate",
        args: [deviceNameToId(name), Curve[old.curve], x, y, dc.fingerprint, at],
      });
      onChain = `rotated on-chain in block ${block}`;
    }
    // The old certificate stays beside the new one: the bridge needs it for readings signed before.
    writeFileSync(join(dir, "devices", `${name}.${old.serialNumber}.pem`), readFileSync(certFile, "utf8"));
    writeFileSync(certFile, cert.certPem);
    const agentFile = join(dir, "agents", `${name}.json`);
    if (existsSync(agentFile)) {
      const agent = JSON.parse(readFileSync(agentFile, "utf8"));
      agent.token = { ...agent.token, readingLabel: label, tlsLabel };
      writeFileSync(agentFile, `${JSON.stringify(agent, null, 2)}\n`);
    }
    return `device ${name} rotated to key "${label}": new certificate ${certFile}, ${onChain}, agent config updated`;
  } finally {
    token.close();
  }
}

async function deviceRevoke(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", since: "string" });
  const dir = resolve(need(v, "dir"));
  const cfg = fleet(dir);
  const name = need(v, "name");
  const certFile = join(dir, "devices", `${name}.pem`);
  if (!existsSync(certFile)) throw new SensorOracleError(`No device ${name} in this fleet.`);
  const ca = await loadFleetCa(join(dir, "ca"));
  progress("adding the certificate to the CRL");
  ca.revoke(readFileSync(certFile, "utf8"));
  await saveFleetCa(ca, join(dir, "ca"));
  let onChain = "not revoked on-chain (no chain in fleet.json)";
  if (cfg.chain) {
    const since = v.since ? Number(v.since) : Math.floor(Date.now() / 1000);
    progress(`revoking ${deviceNameToId(name)} on chain ${cfg.chain.chainId} since ${since}`);
    const block = await registryTx(cfg.chain, "Revocation", {
      functionName: "revoke",
      args: [deviceNameToId(name), since],
    });
    onChain = `revoked on-chain in block ${block}`;
  }
  return `device ${name} revoked: CRL ${join(dir, "ca", FLEET_CA_FILES.crl)} updated, ${onChain}`;
}

/** The last reading the bridge has seen from a device, in words. */
async function lastReadingSeen(bridgeUrl: string | undefined, name: string): Promise<string> {
  if (!bridgeUrl) return "- (no bridge url)";
  try {
    const res = await fetch(`${bridgeUrl}/devices/${name}`, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 404) return "none";
    if (!res.ok) return `bridge answered ${res.status}`;
    const body = (await res.json()) as { lastReading: { sequence: string; timestamp: string } | null };
    if (!body.lastReading) return "none";
    const at = new Date(Number(body.lastReading.timestamp) * 1000).toISOString();
    return `#${body.lastReading.sequence} signed ${at}`;
  } catch {
    return "bridge unreachable";
  }
}

async function deviceRows(dir: string, bridgeUrl?: string) {
  const cfg = fleet(dir);
  const bridge = bridgeUrl ?? cfg.bridgeUrl;
  const revoked = new Set(
    (
      JSON.parse(readFileSync(join(dir, "ca", FLEET_CA_FILES.revoked), "utf8")) as { serialNumber: string }[]
    ).map((r) => r.serialNumber),
  );
  const clients = cfg.chain ? chainClients(cfg.chain) : undefined;
  const rows = [];
  // The current certificate of each device (after a rotation, older ones are kept beside it).
  const current = new Map<string, ReturnType<typeof parseDeviceCertificate>>();
  for (const f of readdirSync(join(dir, "devices")).filter((x) => x.endsWith(".pem"))) {
    const dc = parseDeviceCertificate(readFileSync(join(dir, "devices", f), "utf8"));
    const seen = current.get(dc.name);
    if (!seen || dc.notBefore >= seen.notBefore) current.set(dc.name, dc);
  }
  for (const dc of current.values()) {
    let chain = "-";
    if (clients && cfg.chain) {
      const d = await clients.publicClient.readContract({
        address: cfg.chain.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(dc.name)],
      });
      chain = ["unregistered", "active", `revoked since ${d.revokedAt}`][d.status] ?? "?";
    }
    rows.push({
      name: dc.name,
      curve: dc.curve,
      expires: dc.notAfter.toISOString().slice(0, 10),
      certificate: revoked.has(dc.serialNumber) ? "revoked" : dc.notAfter < new Date() ? "expired" : "valid",
      chain,
      lastReading: await lastReadingSeen(bridge, dc.name),
    });
  }
  return rows;
}

async function deviceList(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", "bridge-url": "string" });
  const rows = await deviceRows(resolve(need(v, "dir")), v["bridge-url"]);
  for (const r of rows)
    console.log(
      `${r.name}  ${r.curve.padEnd(9)}  expires ${r.expires}  certificate ${r.certificate.padEnd(7)}  on-chain ${r.chain}  last reading ${r.lastReading}`,
    );
  return `${rows.length} devices, ${rows.filter((r) => r.certificate === "valid").length} with a valid certificate`;
}

async function deviceStatus(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", name: "string", "bridge-url": "string" });
  const name = need(v, "name");
  const row = (await deviceRows(resolve(need(v, "dir")), v["bridge-url"])).find((r) => r.name === name);
  if (!row) throw new SensorOracleError(`No device ${name} in this fleet.`);
  return `device ${row.name} (${row.curve}): certificate ${row.certificate}, expires ${row.expires}, on-chain ${row.chain}, last reading ${row.lastReading}`;
}

async function agentRun(argv: string[]): Promise<string> {
  const v = args(argv, {
    config: "string",
    url: "string",
    feed: "string",
    count: "string",
    "interval-ms": "string",
  });
  const cfg = JSON.parse(readFileSync(need(v, "config"), "utf8")) as AgentConfig;
  if (cfg.chainId === undefined || !cfg.registry)
    throw new SensorOracleError("The agent config has no chain id and registry.");
  const ca = readFileSync(cfg.caFile, "utf8");
  const cert = readFileSync(cfg.certFile, "utf8");
  let signer: ReadingSigner;
  let secureContext: SecureContext;
  let token: Pkcs11Token | undefined;
  if (cfg.token) {
    token = Pkcs11Token.open({
      modulePath: cfg.token.modulePath,
      token: { label: cfg.token.tokenLabel },
      pin: { file: cfg.token.pinFile },
    });
    signer = token.signer(cfg.curve, cfg.token.readingLabel);
    secureContext = tokenTlsContext({
      ca,
      cert,
      token: cfg.token.tokenLabel,
      keyLabel: cfg.token.tlsLabel,
      pinFile: cfg.token.pinFile,
      engine: cfg.token.engine,
    });
  } else if (cfg.software) {
    const key = readFileSync(cfg.software.keyFile, "utf8");
    const readingSecret =
      cfg.curve === "p256"
        ? p256SecretFromPem(key)
        : Buffer.from(readFileSync(cfg.software.readingKeyFile ?? "", "utf8").trim(), "hex");
    signer = new SoftwareSigner(cfg.curve, readingSecret, { warn: (m) => progress(m) });
    secureContext = createSecureContext({ ca, cert, key, minVersion: "TLSv1.3" });
  } else {
    throw new SensorOracleError("The agent config names neither a token nor software keys.");
  }
  const agent = new DeviceAgent({
    deviceName: cfg.deviceName,
    signer,
    domain: { chainId: cfg.chainId, registry: cfg.registry },
    sequenceFile: `${need(v, "config")}.sequence`,
    mqtt: { url: need(v, "url"), secureContext },
  });
  const count = Number(v.count ?? 10);
  const feedId = feedIdOf(v.feed ?? "demo/temperature");
  progress(
    `device ${cfg.deviceName.slice(0, 8)}… connecting with its ${token ? "token-held" : "software"} key`,
  );
  await agent.start();
  let queued = 0;
  let temp = 500;
  for (let i = 0; i < count; i++) {
    temp += Math.floor(Math.random() * 21) - 10;
    const seq = await agent.publish(feedId, BigInt(temp));
    const ack = await agent.waitForAck(seq);
    if (ack.status === "queued") queued++;
    progress(`reading ${seq}: ${ack.status}${ack.status === "rejected" ? ` (${ack.reason})` : ""}`);
    await new Promise((r) => setTimeout(r, Number(v["interval-ms"] ?? 1000)));
  }
  await agent.stop();
  token?.close();
  return `${count} readings signed ${token ? "in the token" : "with the software key"} and published, ${queued} queued by the bridge`;
}

async function tokenCheck(argv: string[]): Promise<string> {
  const v = args(argv, {
    module: "string",
    "token-label": "string",
    "token-serial": "string",
    "pin-file": "string",
    "pin-env": "string",
  });
  const token = v["token-label"]
    ? { label: v["token-label"] }
    : v["token-serial"]
      ? { serial: v["token-serial"] }
      : undefined;
  if (!token) throw new UsageError("--token-label or --token-serial is required");
  const pin = v["pin-file"] ? { file: v["pin-file"] } : v["pin-env"] ? { env: v["pin-env"] } : undefined;
  if (!pin) throw new UsageError("--pin-file or --pin-env is required (never the PIN itself)");
  progress(`opening token in ${need(v, "module")}`);
  const t = Pkcs11Token.open({ modulePath: need(v, "module"), token, pin });
  const result = `token "${t.label}" (serial ${t.serial}) opened and logged in`;
  t.close();
  return result;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<string>> = {
  "ca init": caInit,
  "broker config": brokerConfig,
  "device enroll": deviceEnroll,
  "device rotate": deviceRotate,
  "device revoke": deviceRevoke,
  "device list": deviceList,
  "device status": deviceStatus,
  "agent run": agentRun,
  "token check": tokenCheck,
};

const [command, sub, ...rest] = process.argv.slice(2);
const run = COMMANDS[`${command} ${sub}`];
if (!command || command === "help" || command === "--help") {
  console.log(USAGE);
  process.exit(0);
}
if (!run) {
  console.error(`sensor-oracle: unknown command "${[command, sub].filter(Boolean).join(" ")}"\n${USAGE}`);
  process.exit(2);
}
try {
  console.log(await run(rest));
  process.exit(0);
} catch (err) {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`sensor-oracle ${command} ${sub}: ${(err as Error).message}`);
    process.exit(2);
  }
  if (err instanceof SensorOracleError) {
    const tag =
      err.name === "SensorOracleError" ? "" : ` [${err.name}${"code" in err ? `:${String(err.code)}` : ""}]`;
    console.error(`sensor-oracle: ${err.shortMessage}${err.details ? ` (${err.details})` : ""}${tag}`);
  } else {
    console.error(`sensor-oracle: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  process.exit(1);
}
