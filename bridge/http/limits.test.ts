import { connect } from "node:net";
import type { Hex } from "viem";
import { describe, expect, it } from "vitest";
import { Metrics } from "../metrics.js";
import { MemoryStore } from "../store/memory-store.js";
import { readingId, type StoredReading } from "../store/types.js";
import { buildApp, DEFAULT_HTTP_LIMITS } from "./app.js";
import { MAX_WAITING_TREE_BUILDS } from "./reading-view.js";

const device = "ab".repeat(32);
const reading = (seq: number): StoredReading => ({
  id: readingId(device, BigInt(seq)),
  deviceId: `0x${device}`,
  feedId: `0x${"cd".repeat(32)}`,
  value: String(seq),
  timestamp: "1767225600",
  sequence: String(seq),
  signature: `0x${"11".repeat(65)}`,
  curve: "secp256k1",
  receivedAt: 0,
});

describe("bridge HTTP limits", () => {
  it("answers a client over its request rate with 429 and a named error", async () => {
    const app = buildApp({
      store: new MemoryStore(),
      metrics: new Metrics(),
      limits: { ...DEFAULT_HTTP_LIMITS, requestsPerMinute: 5 },
    });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await app.inject({ method: "GET", url: "/healthz" })).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.json()).toEqual({ error: "TooManyRequests", message: "rate limit exceeded, retry later" });
    expect(res.headers["retry-after"]).toBeDefined();
  });

  it("closes connections that send their headers too slowly (slowloris) and caps open connections", async () => {
    const app = buildApp({
      store: new MemoryStore(),
      metrics: new Metrics(),
      limits: { ...DEFAULT_HTTP_LIMITS, headersTimeoutMs: 500, requestTimeoutMs: 1_000, maxConnections: 20 },
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const port = (app.server.address() as { port: number }).port;
    try {
      const started = Date.now();
      const closedAfter = await Promise.all(
        Array.from(
          { length: 50 },
          () =>
            new Promise<number>((resolve) => {
              const s = connect(port, "127.0.0.1", () => s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
              // Never finishes its headers; keeps trickling a header line every 200 ms.
              const t = setInterval(() => s.writable && s.write("X-Slow: 1\r\n"), 200);
              s.on("error", () => {});
              s.on("close", () => {
                clearInterval(t);
                resolve(Date.now() - started);
              });
            }),
        ),
      );
      // Every slow connection is gone within a few seconds (over the cap: refused at once).
      expect(Math.max(...closedAfter)).toBeLessThan(5_000);
      // And the server still answers a well-behaved client.
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(ok.status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("answers a sweep over old batches' proofs with 503 beyond its build queue, and correct proofs otherwise", async () => {
    const store = new MemoryStore();
    const batches = MAX_WAITING_TREE_BUILDS * 3;
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < 4; i++) await store.accept(reading(b * 4 + i + 1), device);
      const pending = await store.nextBatch(4, 1);
      if (!pending) throw new Error("no batch");
      const root = `0x${b.toString(16).padStart(64, "0")}` as Hex;
      await store.completeBatch(
        pending,
        { root, ids: pending.ids, txHash: root, blockNumber: "1", gasUsed: "1", committedAt: 0 },
        1,
      );
    }
    const app = buildApp({ store, metrics: new Metrics() });
    const answers = await Promise.all(
      Array.from({ length: batches }, (_, b) =>
        app.inject({ method: "GET", url: `/readings/${readingId(device, BigInt(b * 4 + 1))}` }),
      ),
    );
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(MAX_WAITING_TREE_BUILDS);
    expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
    expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
    const busy = answers.find((a) => a.statusCode === 503);
    expect(busy?.json()).toMatchObject({ error: "ProofBuildersBusy" });
    expect(busy?.headers["retry-after"]).toBe("1");
    for (const a of answers.filter((x) => x.statusCode === 200)) expect(a.json().proof).toHaveLength(2);
  });

  it("answers an internal failure with a bare 500 that echoes neither a URL nor a stack", async () => {
    const secret = "https://eth.example.com/v2/k3yAbCdEf0123456789";
    const app = buildApp({
      store: new MemoryStore(),
      metrics: new Metrics(),
      device: async () => {
        throw new Error(`HTTP request failed.\n\nURL: ${secret}`);
      },
    });
    const res = await app.inject({ method: "GET", url: `/devices/${device}` });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: "InternalError", message: "internal error" });
    expect(res.body).not.toContain("k3yAbCdEf");
  });
});
