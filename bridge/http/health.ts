import type { FastifyPluginAsync } from "fastify";
import type { Metrics } from "../metrics.js";
import type { ReadyCheck } from "../readiness.js";
import type { ReadingStore } from "../store/types.js";

const readySchema = {
  type: "object",
  required: ["ok", "checks"],
  properties: {
    ok: { type: "boolean" },
    checks: { type: "object", additionalProperties: { type: "boolean" } },
    reasons: { type: "object", additionalProperties: { type: "string" } },
    verifyWorkers: {
      type: "object",
      properties: { size: { type: "integer" }, live: { type: "integer" }, restarts: { type: "integer" } },
    },
  },
} as const;

/** /healthz, /readyz and /metrics. */
export const healthRoutes: FastifyPluginAsync<{
  store: ReadingStore;
  metrics: Metrics;
  ready?: (() => Promise<ReadyCheck>) | undefined;
}> = async (app, { store, metrics, ready }) => {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "The process is up.",
        response: {
          200: {
            description: "up",
            type: "object",
            required: ["ok"],
            properties: { ok: { type: "boolean" } },
          },
        },
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        summary: "MQTT, Redis and the chain are reachable and a verify worker runs; why not, when not.",
        response: {
          200: { description: "ready", ...readySchema },
          503: { description: "not ready, with the failing checks", ...readySchema },
        },
      },
    },
    async (_req, reply) => {
      const r: ReadyCheck = ready ? await ready() : { ok: true, checks: {} };
      return reply.code(r.ok ? 200 : 503).send(r);
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics.",
        produces: ["text/plain"],
        response: { 200: { description: "text/plain; version=0.0.4", type: "string" } },
      },
    },
    async (_req, reply) => {
      reply.type("text/plain; version=0.0.4");
      return metrics.render(await store.queueDepth());
    },
  );
};
