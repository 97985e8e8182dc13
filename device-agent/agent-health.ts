import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Counter } from "prom-client";
import type { DeviceAgent } from "./agent.js";

/** What GET /healthz answers (JSON): the essentials of the metrics, and whether all is well. */
export type AgentHealth = {
  /** False while the outbox refuses readings, a replay alarm stands, or the certificate has expired. */
  ok: boolean;
  device: string;
  connected: boolean;
  outboxFull: boolean;
  outbox: {
    readings: number;
    bytes: number;
    quotaBytes: number;
    fileBytes: number;
    held: number;
    oldestUnacknowledgedSeconds: number;
  };
  readings: { taken: number; refused: number; sent: number; resent: number; acknowledged: number };
  replayAlarms: number;
  reconnects: number;
  certificate: { notAfter: string; expiresInSeconds: number; expiringSoon: boolean } | null;
};

export type AgentHealthServerParameters = {
  agent: DeviceAgent;
  /** 127.0.0.1 unless told otherwise: the endpoint is for the gateway's own monitoring. */
  host?: string;
  /** 0 for any free port. */
  port: number;
  /** The device certificate's notAfter, and how long before it the agent warns (default 30 days). */
  certificate?: { notAfter: Date; warnBeforeMs?: number };
};

export type AgentHealthServer = { url: string; port: number; close(): Promise<void> };

const total = async (c: Counter) => (await c.get()).values.reduce((s, v) => s + v.value, 0);

export const DEFAULT_CERTIFICATE_WARN_MS = 30 * 86_400_000;

/** The agent's health now. */
export async function agentHealthOf(
  agent: DeviceAgent,
  certificate?: AgentHealthServerParameters["certificate"],
): Promise<AgentHealth> {
  const { outbox, metrics: m } = agent;
  const oldest = outbox.oldest();
  const outboxFull = outbox.wouldRefuse(300);
  const replayAlarms = await total(m.replayAlarms);
  const cert = certificate
    ? (() => {
        const expiresInSeconds = Math.floor((certificate.notAfter.getTime() - Date.now()) / 1000);
        const warn = (certificate.warnBeforeMs ?? DEFAULT_CERTIFICATE_WARN_MS) / 1000;
        return {
          notAfter: certificate.notAfter.toISOString(),
          expiresInSeconds,
          expiringSoon: expiresInSeconds < warn,
        };
      })()
    : null;
  return {
    ok: !outboxFull && replayAlarms === 0 && (cert === null || cert.expiresInSeconds > 0),
    device: agent.deviceName,
    connected: agent.connected,
    outboxFull,
    outbox: {
      readings: outbox.depth,
      bytes: outbox.bytes,
      quotaBytes: outbox.quotaBytes,
      fileBytes: outbox.fileBytes(),
      held: outbox.held,
      oldestUnacknowledgedSeconds: oldest ? Math.max(0, (Date.now() - oldest.storedAtMs) / 1000) : 0,
    },
    readings: {
      taken: await total(m.taken),
      refused: await total(m.refused),
      sent: await total(m.sent),
      resent: await total(m.resent),
      acknowledged: await total(m.acknowledged),
    },
    replayAlarms,
    reconnects: await total(m.reconnects),
    certificate: cert,
  };
}

/**
 * GET /healthz (AgentHealth as JSON; 503 when not ok) and GET /metrics (Prometheus text) on a
 * local port.
 */
export async function startAgentHealthServer(p: AgentHealthServerParameters): Promise<AgentHealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type }).end(body);
    };
    if (req.method !== "GET") return reply(405, "text/plain", "method not allowed\n");
    if (path === "/healthz")
      return void agentHealthOf(p.agent, p.certificate).then(
        (h) => reply(h.ok ? 200 : 503, "application/json", `${JSON.stringify(h)}\n`),
        () => reply(500, "text/plain", "health unavailable\n"),
      );
    if (path === "/metrics")
      return void p.agent.metrics.text().then(
        (t) => reply(200, p.agent.metrics.registry.contentType, t),
        () => reply(500, "text/plain", "metrics unavailable\n"),
      );
    reply(404, "text/plain", "not found: /healthz, /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(p.port, p.host ?? "127.0.0.1", () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${address}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
