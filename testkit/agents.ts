import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Hex } from "viem";
import { type ReadingStore, readingId } from "../bridge/store/types.js";
import type { AgentConfig } from "../cli/agent-config.js";
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

/**
 * The config file `agent run` reads, for an issued P-256 device with software keys (its TLS key
 * is its reading key), in `dir`: the certificate, key and CA beside it. `extra` adds daemon
 * settings (outbox, health, publishing...). Returns its path.
 */
export function writeAgentConfig(
  dir: string,
  d: IssuedDevice,
  site: AgentSite,
  extra: Partial<AgentConfig> = {},
): string {
  if (d.curve !== "p256") throw new Error("writeAgentConfig: a P-256 device (its TLS key signs readings)");
  const file = (name: string, body: string) => {
    writeFileSync(join(dir, name), body, { mode: 0o600 });
    return join(dir, name);
  };
  const config: AgentConfig = {
    deviceName: d.name,
    curve: d.curve,
    certFile: file(`${d.name}.pem`, d.certPem),
    caFile: file("ca.pem", site.caPem),
    software: { keyFile: file(`${d.name}.key`, d.keyPem) },
    chainId: Number(site.domain.chainId),
    registry: site.domain.registry,
    brokerUrl: site.brokerUrl,
    ...extra,
  };
  return file(`${d.name}.json`, JSON.stringify(config, null, 2));
}

/** `agent run` as its own process: the sequences it reported taken (on disk), its output, its exit. */
export type AgentProcess = {
  proc: ChildProcess;
  /** Sequences of the readings it took (`reading <n> taken`: committed to its outbox). */
  taken: bigint[];
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Start `sensor-oracle agent run --config <file> ...args` (from the repository root). */
export function startAgentProcess(config: string, args: string[] = []): AgentProcess {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "cli/main.ts", "agent", "run", "--config", config, ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const taken: bigint[] = [];
  let out = "";
  let err = "";
  let partial = "";
  proc.stdout?.on("data", (d) => {
    out += d;
  });
  proc.stderr?.on("data", (d: Buffer) => {
    err += d;
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      const m = /^ {2}reading (\d+) taken$/.exec(l);
      if (m) taken.push(BigInt(m[1] as string));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { proc, taken, stdout: () => out, stderr: () => err, exited };
}

/**
 * For each sequence of a device: in how many committed batches of the store its reading is
 * (after the bridge's flush). Every reading committed exactly once: `once` = seqs.length.
 */
export async function commitCounts(
  store: ReadingStore,
  deviceName: string,
  seqs: bigint[],
): Promise<{ once: number; twice: number; lost: bigint[] }> {
  const ids = seqs.map((s) => readingId(deviceName, s));
  const roots = new Set(
    (await Promise.all(ids.map((id) => store.rootOf(id)))).filter((r): r is Hex => r !== null),
  );
  const perId = new Map<string, number>();
  for (const root of roots)
    for (const id of (await store.getBatch(root))?.ids ?? []) perId.set(id, (perId.get(id) ?? 0) + 1);
  return {
    once: ids.filter((id) => perId.get(id) === 1).length,
    twice: ids.filter((id) => (perId.get(id) ?? 0) > 1).length,
    lost: seqs.filter((_, i) => !perId.has(ids[i] as string)),
  };
}
