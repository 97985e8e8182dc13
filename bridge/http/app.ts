import { createServer } from "node:http";
import cors from "@fastify/cors";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyInstance } from "fastify";
import type { DeviceInfo } from "../device-view.js";
import type { Metrics } from "../metrics.js";
import type { ReadyCheck } from "../readiness.js";
import { type ReadingValidity, withValidity } from "../reading-validity.js";
import type { ReadingStore } from "../store/types.js";
import { batchRoutes } from "./batches.js";
import { deviceRoutes } from "./devices.js";
import { answerError } from "./error-handler.js";
import { feedRoutes } from "./feeds.js";
import { FleetActivity } from "./fleet-activity.js";
import { fleetPageRoutes } from "./fleet-page.js";
import { fleetSummaryRoutes } from "./fleet-summary.js";
import { healthRoutes } from "./health.js";
import { type ReadingPages, readingPageRoutes } from "./reading-pages.js";
import { readingView } from "./reading-view.js";
import { readingRoutes } from "./readings.js";
import { describeResponses } from "./schemas.js";
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
  /** Serve readings that no longer verify as "rejected"/"revoked", never as a feed's latest. */
  validity?: ReadingValidity;
  /** Browser origins allowed to call the API (CORS); none by default. "*" allows any. */
  cors?: { origins: readonly string[] };
  /** What the fleet page (/fleet, /fleet/summary) shows beyond the store: this bridge's activity, the enrolled devices. */
  fleet?: { activity: FleetActivity; enrolled?: () => Iterable<string> };
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
 * /devices/:name, /batches/:root, /fleet (a page showing the fleet, fleet-page.ts) and its data
 * /fleet/summary, /openapi.json, the OpenAPI document @fastify/swagger generates
 * from the routes' schemas, and /docs, Swagger UI on that document. CORS answers only the origins
 * given (none by default: browsers on other origins cannot read the API).
 */
export function buildApp({
  store,
  metrics,
  logger = false,
  ready,
  device,
  limits = DEFAULT_HTTP_LIMITS,
  validity,
  cors: corsSettings,
  fleet,
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
  app.addHook("onRoute", describeResponses);
  void app.register(rateLimit, { max: limits.requestsPerMinute, timeWindow: 60_000 });
  if (corsSettings?.origins.length) {
    const origins = corsSettings.origins;
    void app.register(cors, { origin: origins.includes("*") ? "*" : [...origins], methods: ["GET", "HEAD"] });
  }
  void app.register(swagger, {
    openapi: { openapi: "3.1.0", info: { title: "sensor-oracle bridge", version: "1" } },
  });
  // Swagger UI's pages and assets are not API routes: hidden from the document.
  void app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true, uiConfig: { deepLinking: false } });
  const trees = new TreeBuilder();
  app.addHook("onClose", () => trees.close());
  const plain = readingView(store, trees);
  const views = validity ? withValidity(plain, store, validity) : { reading: plain, latest: plain };
  void app.register(healthRoutes, { store, metrics, ready });
  void app.register(readingRoutes, { view: views.reading });
  void app.register(feedRoutes, { store, view: views.latest });
  void app.register(deviceRoutes, { store, device });
  void app.register(batchRoutes, { store });
  void app.register(fleetSummaryRoutes, {
    activity: fleet?.activity ?? new FleetActivity(),
    store,
    validity,
    device,
    enrolled: fleet?.enrolled,
  });
  void app.register(fleetPageRoutes);
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
