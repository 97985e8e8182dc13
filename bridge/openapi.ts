/** The bridge's HTTP API as OpenAPI 3.1, served at /openapi.json (test/api.test.ts keeps it in step with the routes). */
const reading = {
  type: "object",
  required: ["id", "status", "reading", "signature", "curve"],
  properties: {
    id: { type: "string", description: "<device name>:<sequence>" },
    status: { type: "string", enum: ["queued", "committed"] },
    reading: {
      type: "object",
      properties: {
        deviceId: { type: "string" },
        feedId: { type: "string" },
        value: { type: "string", description: "int256, decimal" },
        timestamp: { type: "string" },
        sequence: { type: "string" },
      },
    },
    signature: { type: "string", description: "on-chain form: P-256 r||s, secp256k1 r||s||v" },
    curve: { type: "string", enum: ["p256", "secp256k1"] },
    batch: {
      type: "object",
      properties: { root: { type: "string" }, txHash: { type: "string" }, blockNumber: { type: "string" } },
    },
    proof: { type: "array", items: { type: "string" } },
  },
} as const;

const error = {
  type: "object",
  properties: { error: { type: "string" }, message: { type: "string" } },
} as const;
const json = (schema: object) => ({ content: { "application/json": { schema } } });

export const OPENAPI = {
  openapi: "3.1.0",
  info: { title: "sensor-oracle bridge", version: "1" },
  paths: {
    "/healthz": { get: { summary: "The process is up.", responses: { "200": { description: "up" } } } },
    "/readyz": {
      get: {
        summary: "MQTT, Redis and the chain are reachable.",
        responses: {
          "200": { description: "ready" },
          "503": { description: "not ready, with the failing checks" },
        },
      },
    },
    "/metrics": {
      get: {
        summary: "Prometheus metrics.",
        responses: { "200": { description: "text/plain; version=0.0.4" } },
      },
    },
    "/readings/{id}": {
      get: {
        summary: "A reading with its batch and Merkle proof: the arguments of verifyReading.",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": { description: "the reading", ...json(reading) },
          "400": json(error),
          "404": json(error),
        },
      },
    },
    "/feeds/{feedId}/latest": {
      get: {
        summary:
          "The latest committed reading of a feed, with its proof (what a pull consumer needs in one call).",
        parameters: [{ name: "feedId", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": { description: "the reading", ...json(reading) },
          "400": json(error),
          "404": json(error),
        },
      },
    },
    "/devices/{name}": {
      get: {
        summary:
          "A device: its certificate, its registry record, its highest accepted sequence and the last reading seen (sequence and signed timestamp).",
        parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "the device" }, "400": json(error), "404": json(error) },
      },
    },
    "/batches/{root}": {
      get: {
        summary: "A committed batch: its reading ids and transaction.",
        parameters: [{ name: "root", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "the batch" }, "404": json(error) },
      },
    },
    "/openapi.json": {
      get: { summary: "This document.", responses: { "200": { description: "OpenAPI 3.1" } } },
    },
  },
} as const;
