import { describe, expect, it } from "vitest";
import { Metrics } from "../metrics.js";
import { MemoryStore } from "../store/memory-store.js";
import { readingId } from "../store/types.js";
import { buildApp } from "./app.js";
import { FLEET_PAGE_PATHS } from "./fleet-page.js";

type Operation = {
  summary?: string;
  parameters?: {
    name: string;
    in: string;
    required?: boolean;
    schema?: { type?: string; pattern?: string };
  }[];
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: object }> }>;
};
type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
};

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** The routes the app serves, as OpenAPI paths with their methods (from printRoutes). */
function servedRoutes(app: ReturnType<typeof buildApp>): Map<string, string[]> {
  const served = new Map<string, string[]>();
  const prefixes: string[] = []; // a nested route's path is its parents' and its own
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^([\s│├└─]*)(\S+) \((.*)\)$/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) continue;
    prefixes.length = m[1].length / 4 - 1;
    prefixes.push(m[2]);
    const path = prefixes.join("");
    // Swagger UI's pages (/docs and the routes nested under it) and the fleet page's files are not API routes.
    if (path.startsWith("/docs") || FLEET_PAGE_PATHS.includes(path)) continue;
    const methods = m[3]
      .split(", ")
      .map((x) => x.toLowerCase())
      .filter((x) => x !== "head"); // Fastify's automatic HEAD routes are not documented
    served.set(path.replace(/:(\w+)/g, "{$1}"), methods);
  }
  return served;
}

describe("bridge HTTP API", () => {
  it("documents exactly the routes it serves (OpenAPI)", async () => {
    const app = buildApp({ store: new MemoryStore(), metrics: new Metrics() });
    await app.ready();
    const served = [...servedRoutes(app).keys()];
    const res = await app.inject({ method: "GET", url: "/openapi.json" });
    const doc = res.json() as OpenApiDocument;
    const documented = Object.keys(doc.paths);
    for (const path of documented) expect(served).toContain(path);
    for (const path of served) expect(documented).toContain(path);
    expect(doc.openapi).toBe("3.1.0");
  });

  it("serves a valid OpenAPI 3 document: operations with responses and declared path parameters", async () => {
    const app = buildApp({ store: new MemoryStore(), metrics: new Metrics() });
    await app.ready();
    const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json() as OpenApiDocument;
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toEqual({ title: "sensor-oracle bridge", version: "1" });
    const served = servedRoutes(app);
    expect(Object.keys(doc.paths).length).toBe(11);
    for (const [path, item] of Object.entries(doc.paths)) {
      // Each served method is an operation, and nothing else is.
      expect(
        Object.keys(item)
          .filter((k) => HTTP_METHODS.includes(k))
          .sort(),
      ).toEqual([...(served.get(path) ?? [])].sort());
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method)) continue;
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        // Responses: at least one, keyed by status code, each described.
        const responses = Object.entries(op.responses ?? {});
        expect(responses.length, `${method} ${path}`).toBeGreaterThan(0);
        expect(responses.some(([code]) => code.startsWith("2"))).toBe(true);
        for (const [code, response] of responses) {
          expect(code).toMatch(/^[1-5][0-9]{2}$/);
          expect(response.description, `${method} ${path} ${code}`).toBeTruthy();
        }
        // Path parameters: exactly the template's, required, each with a pattern.
        const pathParams = (op.parameters ?? []).filter((p) => p.in === "path");
        expect(pathParams.map((p) => p.name).sort()).toEqual([...templated].sort());
        for (const param of pathParams) {
          expect(param.required).toBe(true);
          expect(param.schema?.type).toBe("string");
          expect(() => new RegExp(param.schema?.pattern ?? "")).not.toThrow();
          expect(param.schema?.pattern).toBeTruthy();
        }
      }
    }
    // Error answers are documented with their body.
    const reading = doc.paths["/readings/{id}"]?.get;
    expect(Object.keys(reading?.responses ?? {}).sort()).toEqual(["200", "400", "404"]);
    expect(reading?.responses?.["400"]?.content?.["application/json"]?.schema).toMatchObject({
      properties: { error: { type: "string" }, message: { type: "string" } },
    });
  });

  it("answers /readyz with 503 and the failing checks", async () => {
    const app = buildApp({
      store: new MemoryStore(),
      metrics: new Metrics(),
      ready: async () => ({ ok: false, checks: { mqtt: true, redis: false, chain: true } }),
    });
    const res = await app.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(503);
    expect(res.json().checks.redis).toBe(false);
  });

  it("refuses malformed ids with 400 and a named error", async () => {
    const app = buildApp({ store: new MemoryStore(), metrics: new Metrics() });
    for (const url of ["/readings/xyz", "/feeds/0x12/latest", "/devices/ABC"]) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(/^Bad/);
    }
    expect((await app.inject({ method: "GET", url: "/readings/xyz" })).json()).toEqual({
      error: "BadReadingId",
      message: "expected <device name>:<sequence>",
    });
    expect((await app.inject({ method: "GET", url: "/feeds/0x12/latest" })).json()).toEqual({
      error: "BadFeedId",
      message: "expected 0x and 64 hex digits",
    });
    expect((await app.inject({ method: "GET", url: "/devices/ABC" })).json()).toEqual({
      error: "BadDeviceName",
      message: "expected 64 lowercase hex digits",
    });
    // A malformed batch root is a batch not found.
    const batch = await app.inject({ method: "GET", url: "/batches/0x12" });
    expect(batch.statusCode).toBe(404);
    expect(batch.json()).toEqual({ error: "BatchNotFound", message: "no batch 0x12" });
  });

  it("answers 404 with a named error for what it does not have, and serves a queued reading whole", async () => {
    const store = new MemoryStore();
    const app = buildApp({ store, metrics: new Metrics(), device: async () => null });
    const name = "ab".repeat(32);
    const feedId = `0x${"cd".repeat(32)}` as const;
    const missing = [
      [`/readings/${name}:1`, "ReadingNotFound"],
      [`/feeds/${feedId.toUpperCase().replace("0X", "0x")}/latest`, "FeedNotFound"],
      [`/devices/${name}`, "DeviceNotFound"],
      [`/batches/0x${"ef".repeat(32)}`, "BatchNotFound"],
    ] as const;
    for (const [url, error] of missing) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error).toBe(error);
    }
    const stored = {
      id: readingId(name, 1n),
      deviceId: `0x${name}` as const,
      feedId,
      value: "-5",
      timestamp: "1767225600",
      sequence: "1",
      signature: `0x${"00".repeat(64)}` as const,
      curve: "p256" as const,
      receivedAt: 0,
    };
    await store.accept(stored, name);
    const res = await app.inject({ method: "GET", url: `/readings/${stored.id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: stored.id,
      reading: { deviceId: stored.deviceId, feedId, value: "-5", timestamp: "1767225600", sequence: "1" },
      signature: stored.signature,
      curve: "p256",
      status: "queued",
    });
    expect((await app.inject({ method: "GET", url: "/healthz" })).json()).toEqual({ ok: true });
    const metrics = await app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^# /m);
  });

  it("serves a device whole: certificate, registry record, last sequence and reading", async () => {
    const store = new MemoryStore();
    const name = "ab".repeat(32);
    const registry = {
      curve: "p256" as const,
      status: "revoked" as const,
      validFrom: 1767225000,
      revokedAt: 1767226000,
      certFingerprint: `0x${"11".repeat(32)}` as const,
    };
    const app = buildApp({
      store,
      metrics: new Metrics(),
      device: async (n) => ({ name: n, deviceId: `0x${n}`, certificate: null, registry }),
    });
    const empty = await app.inject({ method: "GET", url: `/devices/${name}` });
    expect(empty.json()).toEqual({
      name,
      deviceId: `0x${name}`,
      certificate: null,
      registry,
      lastSequence: null,
      lastReading: null,
    });
    await store.accept(
      {
        id: readingId(name, 7n),
        deviceId: `0x${name}`,
        feedId: `0x${"cd".repeat(32)}`,
        value: "1",
        timestamp: "1767225600",
        sequence: "7",
        signature: `0x${"00".repeat(64)}`,
        curve: "p256",
        receivedAt: 0,
      },
      name,
    );
    const seen = (await app.inject({ method: "GET", url: `/devices/${name}` })).json();
    expect(seen.lastSequence).toBe("7");
    expect(seen.lastReading).toEqual({ sequence: "7", timestamp: "1767225600" });
  });
});
