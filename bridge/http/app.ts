import { createServer } from "node:http";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import type { DeviceInfo } from "../device-view.js";
import type { Metrics } from "../metrics.js";
import type { ReadyCheck } from "../readiness.js";
import type { ReadingStore } from "../store/types.js";
import { batchRoutes } from "./batches.js";
import { deviceRoutes } from "./devices.js";
import { answerError } from "./error-handler.js";
import { feedRoutes } from "./feeds.js";
import { healthRoutes } from "./health.js";
import { type ReadingPages, readingPageRoutes } from "./reading-pages.js";
import { readingView } from "./reading-view.js";
import { readingRoutes } from "./readings.js";
import { TreeBuilder } from "./tree-builder.js";

export type { ReadyCheck } from "../readiness.js";

export type AppParameters = {
  store: ReadingStore;
  metrics: Metrics;
  logger?: boolean;
  /** Whether the bridge can work: MQTT connected, Redis and the chain reachable. */
  ready?: () => Promise<ReadyCheck>;
  /** What the bridge knows of a device (certificate and registry record), or null. */
  device?: (name: string) => Promise<DeviceInfo | null>;
  limits?: HttpLimits;
  /** The archive's paged lookups by device and feed (reading-pages.ts); without it they answer 503. */
  pages?: ReadingPages;
};

/** Limits against abusive HTTP clients (defaults in DEFAULT_HTTP_LIMITS). */
export type HttpLimits = {
  /** Requests per client address per minute (@fastify/rate-limit). */
  requestsPerMinute: number;
  /** Time for a client to send its request headers, and the whole request (slowloris). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are refused at accept. */
  maxConnections: number;
};

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestsPerMinute: 600,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
};

/**
 * The bridge's HTTP API, built without a port so tests call it with app.inject:
 * /healthz, /readyz, /metrics (health.ts), /readings/:id (the reading, its on-chain signature, its
 * batch and Merkle proof: what a consumer passes to verifyReading), /feeds/:feedId/latest,
 * /devices/:name, /batches/:root, and /openapi.json, the OpenAPI document @fastify/swagger
 * generates from the routes' schemas.
 */
export function buildApp({
  store,
  metrics,
  logger = false,
  ready,
  device,
  limits = DEFAULT_HTTP_LIMITS,
  pages,
}: AppParameters): FastifyInstance {
  const app = Fastify({
    logger,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.requestTimeoutMs,
    bodyLimit: 1024, // the API has no request bodies
    // Node checks header and request timeouts every connectionsCheckingInterval (30 s by default,
    // which lets a slowloris client hold a connection that long): check every quarter timeout.
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          connectionsCheckingInterval: Math.max(100, Math.floor(limits.headersTimeoutMs / 4)),
        },
        handler,
      );
      server.maxConnections = limits.maxConnections;
      // Fastify applies these only to a server it makes itself.
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.setTimeout(limits.requestTimeoutMs);
      return server;
    },
  });
  app.setErrorHandler(answerError);
  void app.register(rateLimit, { max: limits.requestsPerMinute, timeWindow: 60_000 });
  void app.register(swagger, {
    openapi: { openapi: "3.1.0", info: { title: "sensor-oracle bridge", version: "1" } },
  });
  const trees = new TreeBuilder();
  app.addHook("onClose", () => trees.close());
  const view = readingView(store, trees);
  void app.register(healthRoutes, { store, metrics, ready });
  void app.register(readingRoutes, { view });
  void app.register(feedRoutes, { store, view });
  void app.register(deviceRoutes, { store, device });
  void app.register(batchRoutes, { store });
  void app.register(readingPageRoutes, { pages });
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
