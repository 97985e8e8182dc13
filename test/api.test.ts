import { describe, expect, it } from "vitest";
import { buildApp } from "../bridge/app.js";
import { Metrics } from "../bridge/metrics.js";
import { OPENAPI } from "../bridge/openapi.js";
import { MemoryStore } from "../bridge/store/memory-store.js";

describe("bridge HTTP API", () => {
  it("documents exactly the routes it serves (OpenAPI)", async () => {
    const app = buildApp({ store: new MemoryStore(), metrics: new Metrics() });
    await app.ready();
    const served = app
      .printRoutes({ commonPrefix: false })
      .split("\n")
      .map((l) =>
        l
          .replace(/^[\s│├└─]+/, "")
          .replace(/ \(.*\)$/, "")
          .trim(),
      )
      .filter((l) => l.startsWith("/"))
      .map((l) => l.replace(/:(\w+)/g, "{$1}"));
    const documented = Object.keys(OPENAPI.paths);
    for (const path of documented) expect(served).toContain(path);
    for (const path of served) expect(documented).toContain(path);
    const res = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.json().openapi).toBe("3.1.0");
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
  });
});
