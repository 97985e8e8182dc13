import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { Metrics } from "../metrics.js";
import { MemoryStore } from "../store/memory-store.js";
import { buildApp } from "./app.js";
import { errorSchema } from "./schemas.js";

type Responses = Record<string, { description?: string }>;
type OpenApiDocument = { paths: Record<string, Record<string, { responses?: Responses }>> };

const app = (cors?: { origins: string[] }) =>
  buildApp({ store: new MemoryStore(), metrics: new Metrics(), ...(cors ? { cors } : {}) });

describe("bridge HTTP API: OpenAPI, Swagger UI, CORS", () => {
  it("serves an OpenAPI document that a real validator accepts, every answer described by its route", async () => {
    const a = app();
    const doc = (await a.inject({ url: "/openapi.json" })).json() as OpenApiDocument;
    const result = await new Validator().validate(doc as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    // @fastify/swagger fills a missing description with "Default Response": valid, but says nothing.
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        for (const [code, response] of Object.entries(op.responses ?? {}))
          expect(response.description, `${method} ${path} ${code}`).not.toBe("Default Response");
    await a.close();
  });

  it("describes a route's answers by status code when the route does not", async () => {
    const a = app();
    void a.register(async (r) => {
      r.get(
        "/undescribed",
        { schema: { summary: "x", response: { 200: { type: "object" }, 404: errorSchema } } },
        async () => ({}),
      );
    });
    const doc = (await a.inject({ url: "/openapi.json" })).json() as OpenApiDocument;
    const responses = doc.paths["/undescribed"]?.get?.responses;
    expect(responses?.["200"]?.description).toBe("the answer");
    expect(responses?.["404"]?.description).toBe("not found: an error name and message");
    expect((await new Validator().validate(doc as Parameters<Validator["validate"]>[0])).valid).toBe(true);
    await a.close();
  });

  it("serves Swagger UI at /docs, on the same document", async () => {
    const a = app();
    const page = await a.inject({ url: "/docs/" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("Swagger UI");
    const json = await a.inject({ url: "/docs/json" });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual((await a.inject({ url: "/openapi.json" })).json());
    await a.close();
  });

  it("answers no CORS by default", async () => {
    const a = app();
    const res = await a.inject({ url: "/healthz", headers: { origin: "https://ops.example.com" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    await a.close();
  });

  it("allows exactly the configured origins, preflight included", async () => {
    const a = app({ origins: ["https://ops.example.com"] });
    const ok = await a.inject({ url: "/healthz", headers: { origin: "https://ops.example.com" } });
    expect(ok.headers["access-control-allow-origin"]).toBe("https://ops.example.com");
    const other = await a.inject({ url: "/healthz", headers: { origin: "https://evil.example" } });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    const preflight = await a.inject({
      method: "OPTIONS",
      url: "/readyz",
      headers: { origin: "https://ops.example.com", "access-control-request-method": "GET" },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers["access-control-allow-methods"]).toContain("GET");
    await a.close();
  });

  it("renders /metrics through prom-client: process metrics beside the bridge's", async () => {
    const metrics = new Metrics();
    metrics.accepted = 5;
    metrics.reject("replay");
    metrics.batchesCommitted += 1;
    metrics.batchSize.observe(3);
    const a = buildApp({ store: new MemoryStore(), metrics });
    const body = (await a.inject({ url: "/metrics" })).body;
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ])
      expect(body).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? `, "m"));
    // GC durations by kind: series appear after the first collection, the family at once.
    expect(body).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    expect(body).toMatch(/^sensor_oracle_readings_accepted_total 5$/m);
    expect(body).toMatch(/^sensor_oracle_readings_rejected_total\{reason="replay"\} 1$/m);
    expect(body).toMatch(/^sensor_oracle_batches_committed_total 1$/m);
    expect(body).toMatch(/^sensor_oracle_batch_size_bucket\{le="4"\} 1$/m);
    expect(body).toMatch(/^sensor_oracle_queue_depth 0$/m);
    const age = Number(/^sensor_oracle_seconds_since_last_commit (\S+)$/m.exec(body)?.[1]);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(5);
    // Each metric family appears once (two registries rendered together must not collide).
    const types = [...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(new Set(types).size).toBe(types.length);
    await a.close();
  });

  it("reads the submitter's balance at scrape, keeping the last value when the read fails", async () => {
    const metrics = new Metrics();
    let balance: bigint | Error = 2n * 10n ** 17n;
    metrics.watchSubmitterBalance(async () => {
      if (balance instanceof Error) throw balance;
      return balance;
    });
    expect(await metrics.render(0)).toMatch(/^sensor_oracle_submitter_balance_ether 0\.2$/m);
    balance = new Error("RPC down");
    expect(await metrics.render(0)).toMatch(/^sensor_oracle_submitter_balance_ether 0\.2$/m);
    balance = 10n ** 16n;
    expect(await metrics.render(0)).toMatch(/^sensor_oracle_submitter_balance_ether 0\.01$/m);
  });
});
