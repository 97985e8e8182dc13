import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { outcomeOf } from "../testkit/outcome.js";
import { loadConfig, readPrivateKey, readPushedFeeds, redactUrl } from "./config.js";
import { ConfigError } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "so-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, body: string) => {
  writeFileSync(join(dir, name), body);
  return join(dir, name);
};
for (const f of ["ca.pem", "bridge.pem", "bridge.key", "fleet-ca.pem"]) file(f, "x");
file("submitter.key", `0x${"11".repeat(32)}\n`);
const good = {
  mqtt: {
    url: "mqtts://127.0.0.1:8883",
    caFile: "ca.pem",
    certFile: "bridge.pem",
    keyFile: "bridge.key",
    shareGroup: "so-0123456789abcdef",
  },
  redis: { url: "redis://127.0.0.1:6379" },
  chain: {
    rpcUrl: "https://rpc.example/v2/SECRETKEY",
    chainId: 11155111,
    oracle: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    submitterKeyFile: "submitter.key",
  },
  fleet: { caFile: "fleet-ca.pem", certificatesDir: "." },
};
const keyOf = (fn: () => unknown) => outcomeOf(fn, ConfigError, (e) => e.key, "ok");

describe("bridge configuration", () => {
  it("loads a file, resolves paths beside it and fills defaults", () => {
    const c = loadConfig(file("ok.json", JSON.stringify(good)), {});
    expect(c.mqtt.caFile).toBe(join(dir, "ca.pem"));
    expect(c.batch).toEqual({ intervalMs: 2000, maxSize: 1024 });
    expect(c.mqtt.protocolVersion).toBe(5);
  });

  it("takes Redis sentinels from the file or SO_REDIS_SENTINELS, with the primary's name, and refuses bad ones", () => {
    const sentinels = [
      { host: "10.0.0.1", port: 26379 },
      { host: "10.0.0.2", port: 26380 },
    ];
    const withSentinels = { ...good, redis: { ...good.redis, sentinels, name: "so-primary" } };
    expect(loadConfig(file("s1.json", JSON.stringify(withSentinels)), {}).redis).toMatchObject({
      sentinels,
      name: "so-primary",
      waitReplicas: 0,
    });
    const fromEnv = loadConfig(file("s2.json", JSON.stringify(good)), {
      SO_REDIS_SENTINELS: "10.0.0.1:26379,10.0.0.2:26380",
      SO_REDIS_NAME: "so-primary",
    });
    expect(fromEnv.redis.sentinels).toEqual(sentinels);
    const noName = { ...good, redis: { ...good.redis, sentinels } };
    expect(keyOf(() => loadConfig(file("s3.json", JSON.stringify(noName)), {}))).toBe("redis.name");
    const bad = { ...good, redis: { ...good.redis, sentinels: [{ host: "x" }], name: "n" } };
    expect(keyOf(() => loadConfig(file("s4.json", JSON.stringify(bad)), {}))).toBe("redis.sentinels");
  });

  it("lets SO_* environment variables override the file", () => {
    const c = loadConfig(file("ok2.json", JSON.stringify(good)), {
      SO_BATCH_MAX_SIZE: "64",
      SO_LOG_LEVEL: "debug",
    });
    expect(c.batch.maxSize).toBe(64);
    expect(c.logLevel).toBe("debug");
  });

  it.each([
    ["a missing required key", { ...good, redis: {} }, {}, "redis.url"],
    ["a bad address", { ...good, chain: { ...good.chain, oracle: "0x1234" } }, {}, "chain.oracle"],
    [
      "a file that does not exist",
      { ...good, mqtt: { ...good.mqtt, keyFile: "nope.key" } },
      {},
      "mqtt.keyFile",
    ],
    ["a bad integer from the environment", good, { SO_BATCH_INTERVAL_MS: "soon" }, "batch.intervalMs"],
    [
      "an MQTT version we do not speak",
      { ...good, mqtt: { ...good.mqtt, protocolVersion: 3 } },
      {},
      "mqtt.protocolVersion",
    ],
    ["an unknown key (a typo)", { ...good, batch: { intervalMS: 5 } }, {}, "batch.intervalMS"],
    [
      "MQTT 5 without a secret share group",
      { ...good, mqtt: { ...good.mqtt, shareGroup: undefined } },
      {},
      "mqtt.shareGroup",
    ],
    [
      "a share group MQTT cannot carry",
      { ...good, mqtt: { ...good.mqtt, shareGroup: "a/b" } },
      {},
      "mqtt.shareGroup",
    ],
    [
      "half a Redis TLS setting",
      { ...good, redis: { ...good.redis, tls: { caFile: "ca.pem" } } },
      {},
      "redis.tls.certFile",
    ],
  ])("fails fast naming the key for %s", (_what, body, env, key) => {
    expect(keyOf(() => loadConfig(file(`bad-${key}.json`, JSON.stringify(body)), env))).toBe(key);
  });

  it("takes push-feed settings only together, and names a bad feed entry", () => {
    file(
      "feeds.json",
      JSON.stringify([{ feedId: `0x${"ab".repeat(32)}`, deviationBps: 50, heartbeatSec: 3600 }]),
    );
    const c = loadConfig(
      file(
        "push.json",
        JSON.stringify({
          ...good,
          push: { feedsContract: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", feedsFile: "feeds.json" },
        }),
      ),
      {},
    );
    expect(readPushedFeeds(c.push?.feedsFile as string)).toEqual([
      { feedId: `0x${"ab".repeat(32)}`, deviationBps: 50, heartbeatSec: 3600 },
    ]);
    expect(
      keyOf(() =>
        loadConfig(
          file("push-half.json", JSON.stringify({ ...good, push: { feedsFile: "feeds.json" } })),
          {},
        ),
      ),
    ).toBe("push.feedsContract");
    const badFeeds = file(
      "bad-feeds.json",
      JSON.stringify([{ feedId: "0x12", deviationBps: 50, heartbeatSec: 1 }]),
    );
    expect(keyOf(() => readPushedFeeds(badFeeds))).toBe("push.feedsFile[0].feedId");
  });

  it("keeps secrets out of messages: the private key file and the RPC URL's path", () => {
    const bad = file("bad.key", "not a key SECRET\n");
    let message = "";
    try {
      readPrivateKey(bad);
    } catch (e) {
      message = String(e);
    }
    expect(message).toContain("chain.submitterKeyFile");
    expect(message).not.toContain("SECRET");
    expect(redactUrl(good.chain.rpcUrl)).toBe("https://rpc.example");
  });
});

describe("bridge configuration: CORS", () => {
  it("is off by default and takes origins from the file or SO_HTTP_CORS_ORIGINS", () => {
    expect(loadConfig(file("cors0.json", JSON.stringify(good)), {}).http.cors).toBeUndefined();
    const withCors = { ...good, http: { cors: { origins: ["https://ops.example.com"] } } };
    expect(loadConfig(file("cors1.json", JSON.stringify(withCors)), {}).http.cors).toEqual({
      origins: ["https://ops.example.com"],
    });
    const fromEnv = loadConfig(file("cors2.json", JSON.stringify(good)), {
      SO_HTTP_CORS_ORIGINS: "https://a.example, http://localhost:3000",
    });
    expect(fromEnv.http.cors).toEqual({ origins: ["https://a.example", "http://localhost:3000"] });
  });

  it.each([["https://a.example/path"], ["ftp://a.example"], ["a.example"], [""]])(
    "refuses %j as an origin, naming http.cors.origins",
    (origin) => {
      const bad = { ...good, http: { cors: { origins: [origin] } } };
      expect(keyOf(() => loadConfig(file("cors-bad.json", JSON.stringify(bad)), {}))).toBe(
        "http.cors.origins",
      );
    },
  );
});

describe("archive configuration", () => {
  it("defaults to SQLite in data/ beside the config file, proofs kept for ever", () => {
    const c = loadConfig(file("archive-default.json", JSON.stringify(good)), {});
    expect(c.archive).toEqual({
      kind: "sqlite",
      path: join(dir, "data/archive.sqlite"),
      hotSeconds: 60,
      maxLagReadings: 1_000_000,
    });
  });

  it("takes PostgreSQL by URL with a password file, and a retention", () => {
    file("pg.pass", "s3cret\n");
    const c = loadConfig(
      file(
        "archive-pg.json",
        JSON.stringify({
          ...good,
          archive: {
            kind: "postgres",
            url: "postgres://so@db:5432/so",
            passwordFile: "pg.pass",
            retentionDays: 90,
          },
        }),
      ),
      {},
    );
    expect(c.archive).toMatchObject({
      kind: "postgres",
      retentionDays: 90,
      passwordFile: join(dir, "pg.pass"),
    });
  });

  it.each([
    ["PostgreSQL without a server", { kind: "postgres" }, "archive.url"],
    ["a password in the URL", { kind: "postgres", url: "postgres://so:pw@db/so" }, "archive.url"],
    ["a URL that is not PostgreSQL", { kind: "postgres", url: "mysql://db/so" }, "archive.url"],
    ["a PostgreSQL setting on SQLite", { kind: "sqlite", host: "db" }, "archive.host"],
    ["a retention of 0 days", { retentionDays: 0 }, "archive.retentionDays"],
    ["an unknown kind", { kind: "mongo" }, "archive.kind"],
    ["an unknown setting", { dir: "x" }, "archive.dir"],
  ])("refuses %s, naming the setting", (_what, archive, key) => {
    expect(keyOf(() => loadConfig(file("archive-bad.json", JSON.stringify({ ...good, archive })), {}))).toBe(
      key,
    );
  });
});
