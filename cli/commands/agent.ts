import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";
import pino from "pino";
import { type AgentLog, DeviceAgent } from "../../device-agent/agent.js";
import {
  type AgentHealthServer,
  agentHealthOf,
  startAgentHealthServer,
} from "../../device-agent/agent-health.js";
import { type FeedTable, parseFeeds } from "../../device-agent/feeds.js";
import { parseInputsConfig, type RunningInputs, startInputs } from "../../device-agent/inputs/index.js";
import { registerInputMetrics } from "../../device-agent/inputs/input-metrics.js";
// The token's modules (pkcs11js, the PKCS#11 signer, the engine lookup) are loaded only for a
// config that names a token: a software-key agent runs without them (about 3.5 MB of RSS).
import type { Pkcs11Token } from "../../device-agent/pkcs11-signer.js";
import { startSelfRenewal } from "../../device-agent/self-renewal.js";
import { type ReadingSigner, SoftwareSigner } from "../../device-agent/signer.js";
import { p256SecretFromPem } from "../../pki/secret-key.js";
import { SensorOracleError } from "../../protocol/errors.js";
import { feedIdOf } from "../../protocol/reading.js";
import type { AgentConfig } from "../agent-config.js";
import { args, need, progress, UsageError } from "../args.js";

/** An agent built from its config file, not yet started. */
export type OpenedAgent = {
  agent: DeviceAgent;
  config: AgentConfig;
  /** The token holding the keys (closed by the caller after the agent), if any. */
  token: Pkcs11Token | undefined;
  /** The device certificate's notAfter. */
  notAfter: Date;
  /** The config's feeds (none when it lists none). */
  feeds: FeedTable;
};

/**
 * The agent a config file describes: its keys (token or software files), its TLS identity, its
 * feeds, and its outbox (`<config>.outbox.db` unless the config names one; an old
 * `<config>.sequence` file is migrated).
 */
export async function openAgentFromConfig(
  configPath: string,
  opts: { url?: string; log?: AgentLog; warn?: (m: string) => void } = {},
): Promise<OpenedAgent> {
  const cfg = JSON.parse(readFileSync(configPath, "utf8")) as AgentConfig;
  if (cfg.chainId === undefined || !cfg.registry)
    throw new SensorOracleError("The agent config has no chain id and registry.");
  const url = opts.url ?? cfg.brokerUrl;
  if (!url) throw new UsageError("--url is required (or brokerUrl in the agent config)");
  const { signer, secureContext, token, notAfter } = await openAgentKeys(cfg, opts.warn ?? progress);
  const feeds: FeedTable = cfg.feeds?.length ? parseFeeds(cfg.feeds) : new Map();
  const pub = cfg.publishing ?? {};
  const agent = new DeviceAgent({
    deviceName: cfg.deviceName,
    signer,
    domain: { chainId: cfg.chainId, registry: cfg.registry },
    mqtt: { url, secureContext },
    feeds: [...feeds.values()].map((f) => ({ name: f.name, feedId: f.feedId })),
    outbox: {
      path: cfg.outbox?.path ?? `${configPath}.outbox.db`,
      ...(cfg.outbox?.quotaBytes === undefined ? {} : { quotaBytes: cfg.outbox.quotaBytes }),
      ...(cfg.outbox?.startSequenceAbove === undefined
        ? {}
        : { startSequenceAbove: BigInt(cfg.outbox.startSequenceAbove) }),
    },
    sequenceFile: `${configPath}.sequence`,
    ...(pub.maxInFlight === undefined ? {} : { maxInFlight: pub.maxInFlight }),
    ...(pub.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: pub.ackTimeoutMs }),
    reconnect: {
      ...(pub.reconnectMinMs === undefined ? {} : { minMs: pub.reconnectMinMs }),
      ...(pub.reconnectMaxMs === undefined ? {} : { maxMs: pub.reconnectMaxMs }),
    },
    ...(opts.log ? { log: opts.log } : {}),
  });
  return { agent, config: cfg, token, notAfter, feeds };
}

/** The reading signer and TLS identity a config names (token or software files), and its certificate's notAfter. */
export async function openAgentKeys(
  cfg: Pick<AgentConfig, "curve" | "caFile" | "certFile" | "token" | "software">,
  warn: (m: string) => void,
): Promise<{
  signer: ReadingSigner;
  secureContext: SecureContext;
  token: Pkcs11Token | undefined;
  notAfter: Date;
}> {
  const ca = readFileSync(cfg.caFile, "utf8");
  const cert = readFileSync(cfg.certFile, "utf8");
  let signer: ReadingSigner;
  let secureContext: SecureContext;
  let token: Pkcs11Token | undefined;
  if (cfg.token) {
    const [{ Pkcs11Token }, { tokenTlsContext }] = await Promise.all([
      import("../../device-agent/pkcs11-signer.js"),
      import("../../device-agent/tls.js"),
    ]);
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
    signer = new SoftwareSigner(cfg.curve, readingSecret, { warn });
    secureContext = createSecureContext({ ca, cert, key, minVersion: "TLSv1.3" });
  } else {
    throw new SensorOracleError("The agent config names neither a token nor software keys.");
  }
  return { signer, secureContext, token, notAfter: new Date(new X509Certificate(cert).validTo) };
}

/** Resolves with the first of SIGTERM or SIGINT. */
const stopSignal = () =>
  new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });

/**
 * `agent run`: the device agent as a daemon. It publishes what its outbox holds and what its
 * inputs take, serves /healthz and /metrics on 127.0.0.1 when configured, warns ahead of its
 * certificate's expiry, and on SIGTERM/SIGINT stops taking readings, waits a bounded time for
 * the answers in flight, closes its outbox and exits 0. `--simulate <n>` (demos, tests) takes n
 * readings of a simulated random walk instead, waits for their answers and exits.
 */
export async function agentRun(argv: string[]): Promise<string> {
  const v = args(argv, {
    config: "string",
    url: "string",
    feed: "string",
    simulate: "string",
    count: "string", // the former name of --simulate
    "interval-ms": "string",
    "health-port": "string",
  });
  const configPath = need(v, "config");
  const simulate = v.simulate ?? v.count;
  // The daemon logs JSON lines (pino) to stderr; a simulation only its warnings.
  const log = pino({ level: simulate === undefined ? "info" : "warn" }, pino.destination(2));
  const opened = await openAgentFromConfig(configPath, { ...(v.url ? { url: v.url } : {}), log });
  const { agent, config, token, feeds } = opened;
  // The certificate in force: a renewal or rotation done by the agent itself moves it.
  const certificate = {
    notAfter: opened.notAfter,
    warnBeforeMs: (config.certificateWarnDays ?? 30) * 86_400_000,
  };
  agent.metrics.observeCertificate(certificate.notAfter);
  const { warnBeforeMs } = certificate;
  const checkCertificate = () => {
    const notAfter = certificate.notAfter;
    const left = notAfter.getTime() - Date.now();
    if (left < warnBeforeMs)
      log.warn(
        {
          device: config.deviceName,
          notAfter: notAfter.toISOString(),
          daysLeft: Math.floor(left / 86_400_000),
        },
        left > 0 ? "device certificate expires soon: renew it" : "device certificate has expired",
      );
  };
  checkCertificate();
  const certTimer = setInterval(checkCertificate, 6 * 3_600_000);
  certTimer.unref();
  const healthPort = v["health-port"] ?? config.health?.port;
  let health: AgentHealthServer | undefined;
  let inputs: RunningInputs | undefined;
  // Renewal and rotation by the agent itself, over the fleet's enrolment endpoint (when the config
  // names one): a rotation switches keys without a reading signed with the wrong one.
  const renewEvery = config.renewal?.checkEverySeconds ?? 3_600;
  const renewal =
    config.enrolUrl && renewEvery > 0
      ? startSelfRenewal({
          agent,
          configFile: configPath,
          everyMs: renewEvery * 1000,
          log,
          openKeys: async (c) => {
            const k = await openAgentKeys(c, (m) => log.warn({ device: config.deviceName }, m));
            return { ...k, close: () => k.token?.close() };
          },
          onCertificate: (notAfter) => {
            certificate.notAfter = notAfter;
            agent.metrics.observeCertificate(notAfter);
          },
        })
      : undefined;
  try {
    if (healthPort !== undefined)
      health = await startAgentHealthServer({
        agent,
        port: Number(healthPort),
        ...(config.health?.host ? { host: config.health.host } : {}),
        certificate,
      });
    const keyKind = token ? "token-held" : "software";
    progress(
      `device ${config.deviceName.slice(0, 8)}… connecting with its ${keyKind} key; outbox ${agent.outbox.depth} readings` +
        (health ? `; health ${health.url}/healthz` : ""),
    );
    if (simulate !== undefined) return await runSimulation(opened, Number(simulate), v);
    // A bad inputs section stops the daemon before it connects (InputConfigError naming the key).
    const inputsConfig = parseInputsConfig(config.inputs, feeds);
    await agent.start({ wait: false });
    // The inputs (stdin, commands, local HTTP) hand readings to `agent.take(...)` from here on.
    inputs = await startInputs(inputsConfig, feeds, agent, log);
    registerInputMetrics(agent.metrics.registry, () => (inputs as RunningInputs).stats());
    if (inputs.http) progress(`readings taken at ${JSON.stringify(inputs.http)}`);
    const signal = await stopSignal();
    progress(`${signal}: no new readings; waiting for the answers in flight`);
    // Inputs first, so that none is answered "outbox full" while the agent closes.
    await inputs.close();
    inputs = undefined;
    // A renewal or rotation under way finishes first (it may switch the agent's key and connection).
    await renewal?.stop();
    const before = await agentHealthOf(agent);
    const closed = await agent.close({ drainMs: config.shutdownDrainMs ?? 5_000 });
    return (
      `agent stopped on ${signal}: ${before.readings.taken} readings taken, ${before.readings.acknowledged} acknowledged, ` +
      `${closed.outboxDepth} in the outbox for the next start`
    );
  } finally {
    clearInterval(certTimer);
    await renewal?.stop();
    await inputs?.close();
    await health?.close();
    token?.close();
  }
}

/** `--simulate n`: n readings of a random walk, `--interval-ms` apart, each logged with its answer. */
async function runSimulation(
  { agent, token }: OpenedAgent,
  count: number,
  v: { feed?: string | undefined; "interval-ms"?: string | undefined },
): Promise<string> {
  const feedId = feedIdOf(v.feed ?? "demo/temperature");
  const interval = Number(v["interval-ms"] ?? 1000);
  await agent.start();
  let stopped: NodeJS.Signals | undefined;
  void stopSignal().then((s) => {
    stopped = s;
  });
  let queued = 0;
  let taken = 0;
  const answers: Promise<void>[] = [];
  let temp = 500;
  for (let i = 0; i < count && !stopped; i++) {
    temp += Math.floor(Math.random() * 21) - 10;
    const seq = await agent.publish(feedId, BigInt(temp));
    taken += 1;
    progress(`reading ${seq} taken`);
    answers.push(
      agent.waitForFinalAck(seq).then((ack) => {
        // `replay` for a reading sent again (after a reconnect) that left the outbox: the bridge
        // holds it (one that could not have reached the bridge is held in the outbox, an alarm).
        const held = ack?.status === "rejected" && ack.reason === "replay" && !agent.outbox.has(seq);
        if (ack?.status === "queued" || held) queued++;
        progress(
          `reading ${seq}: ${ack ? ack.status : "no answer yet (kept in the outbox)"}${ack && ack.status !== "queued" ? ` (${ack.reason})` : ""}`,
        );
      }),
    );
    if (i + 1 < count) await new Promise((r) => setTimeout(r, interval));
  }
  await Promise.all(answers);
  await agent.close({ drainMs: 1_000 });
  return `${taken} readings signed ${token ? "in the token" : "with the software key"} and published, ${queued} queued by the bridge`;
}
