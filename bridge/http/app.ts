import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import type { DeviceInfo } from "../device-view.js";
import type { Metrics } from "../metrics.js";
import type { ReadyCheck } from "../readiness.js";
import type { ReadingStore } from "../store/types.js";
import { batchRoutes } from "./batches.js";
import { deviceRoutes } from "./devices.js";
import { feedRoutes } from "./feeds.js";
import { healthRoutes } from "./health.js";
import { readingView } from "./reading-view.js";
import { readingRoutes } from "./readings.js";
import { answerInvalid } from "./schemas.js";

export type { ReadyCheck } from "../readiness.js";

export type AppParameters = {
  store: ReadingStore;
  metrics: Metrics;
  logger?: boolean;
  /** Whether the bridge can work: MQTT connected, Redis and the chain reachable. */
  ready?: () => Promise<ReadyCheck>;
  /** What the bridge knows of a device (certificate and registry record), or null. */
  device?: (name: string) => Promise<DeviceInfo | null>;
};

/**
 * The bridge's HTTP API, built without a port so tests call it with app.inject:
 * /healthz, /readyz, /metrics (health.ts), /readings/:id (the reading, its on-chain signature, its
 * batch and Merkle proof: what a consumer passes to verifyReading), /feeds/:feedId/latest,
 * /devices/:name, /batches/:root, and /openapi.json, the OpenAPI document @fastify/swagger
 * generates from the routes' schemas.
 */
export function buildApp({ store, metrics, logger = false, ready, device }: AppParameters): FastifyInstance {
  const app = Fastify({ logger });
  app.setErrorHandler(answerInvalid);
  void app.register(swagger, {
    openapi: { openapi: "3.1.0", info: { title: "sensor-oracle bridge", version: "1" } },
  });
  const view = readingView(store);
  void app.register(healthRoutes, { store, metrics, ready });
  void app.register(readingRoutes, { view });
  void app.register(feedRoutes, { store, view });
  void app.register(deviceRoutes, { store, device });
  void app.register(batchRoutes, { store });
  // In a plugin like the others, so that it is registered after @fastify/swagger, which documents it.
  void app.register(async (docs) => {
    docs.get(
      "/openapi.json",
      {
        schema: {
          summary: "This document.",
          response: { 200: { description: "OpenAPI 3.1", type: "object", additionalProperties: true } },
        },
      },
      async () => docs.swagger(),
    );
  });
  return app;
}
