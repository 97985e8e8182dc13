import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleetCa, type FleetCa } from "../../pki/fleet-ca.js";
import type { Service } from "../../testkit/process.js";
import { startRedis } from "../../testkit/redis.js";
import { RedisStore } from "./redis-store.js";
import { readingId } from "./types.js";

let ca: FleetCa;
let redis: Service;
beforeAll(async () => {
  ca = await createFleetCa({ commonName: "redis test" });
  const server = await ca.issueServer({ commonName: "redis" });
  redis = await startRedis({ tls: { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem } });
});
afterAll(async () => {
  await redis?.stop();
});

describe("RedisStore over TLS", () => {
  it("connects with a client certificate and queues a reading", async () => {
    const client = await ca.issueClient({ commonName: "bridge" });
    const s = new RedisStore({
      url: `redis://127.0.0.1:${redis.port}`,
      prefix: "tls",
      tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem },
    });
    const device = "ab".repeat(32);
    const r = {
      id: readingId(device, 1n),
      deviceId: `0x${device}` as const,
      feedId: `0x${"01".repeat(32)}` as const,
      value: "1",
      timestamp: "1767225600",
      sequence: "1",
      signature: `0x${"00".repeat(64)}` as const,
      curve: "p256" as const,
      receivedAt: 0,
    };
    expect(await s.accept(r, device)).toBe("queued");
    expect(await s.getReadings([r.id])).toEqual([r]);
    expect((await s.checkDurability()).status).toBe("durable");
    await s.close();
  });

  it("is refused without a client certificate (the server requires one)", async () => {
    const reply = await new Promise<string>((resolve) => {
      const sock = connect({ host: "127.0.0.1", port: redis.port, ca: ca.certPem, servername: "localhost" });
      let out = "";
      sock.on("secureConnect", () => sock.write("PING\r\n"));
      sock.on("data", (d) => {
        out += d;
      });
      sock.on("error", (e) => resolve(`error: ${e.message}`));
      sock.on("close", () => resolve(out || "closed"));
    });
    expect(reply).not.toContain("PONG");
  });
});
