import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";
import { DeviceAgent } from "../../device-agent/agent.js";
import { Pkcs11Token } from "../../device-agent/pkcs11-signer.js";
import { type ReadingSigner, SoftwareSigner } from "../../device-agent/signer.js";
import { tokenTlsContext } from "../../device-agent/tls.js";
import { p256SecretFromPem } from "../../pki/pem.js";
import { feedIdOf, SensorOracleError } from "../../protocol/index.js";
import type { AgentConfig } from "../agent-config.js";
import { args, need, progress } from "../args.js";

/** `agent run`: a device agent from its config, publishing `--count` readings and waiting for each ack. */
export async function agentRun(argv: string[]): Promise<string> {
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
