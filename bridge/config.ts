import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Hex, isAddress, isHex } from "viem";
import { MAX_FUTURE_SKEW_SEC, SHARE_GROUP } from "../protocol/index.js";
import { ConfigError } from "./errors.js";

/** The bridge's configuration, after validation. Secrets are read from files, never from here. */
export type BridgeConfig = {
  mqtt: {
    url: string;
    caFile: string;
    certFile: string;
    keyFile: string;
    protocolVersion: 4 | 5;
    /** The bridges' MQTT 5 share group: a secret name, the same for every bridge of the fleet. */
    shareGroup?: string;
    /** MQTT keepalive (seconds, 1 to 65535; the fleet broker allows at most 120). */
    keepaliveSec: number;
    /** MQTT 5: how long the broker keeps the bridge's session after a disconnection (seconds; 0: clean session). */
    sessionExpirySec: number;
  };
  /** `tls`: Redis over TLS with a client certificate (redis-server tls-auth-clients yes). */
  redis: {
    url: string;
    prefix: string;
    tls?: { caFile: string; certFile: string; keyFile: string };
    /** How often the running bridge checks that Redis is still durable (seconds). */
    durabilityCheckSec: number;
    /** Redis Sentinel: the sentinels to ask for the primary `name` (url then gives only password and db). */
    sentinels?: { host: string; port: number }[];
    name?: string;
    /** Ack a reading only once this many replicas hold it (Redis WAIT; 0: off), within waitReplicasTimeoutMs. */
    waitReplicas: number;
    waitReplicasTimeoutMs: number;
  };
  /** `oracle`: the fleet's SensorOracle contract (registry and batches in one). */
  chain: { rpcUrl: string; chainId: number; oracle: Hex; submitterKeyFile: string };
  fleet: { caFile: string; certificatesDir: string; crlFile?: string };
  batch: { intervalMs: number; maxSize: number };
  /** `cors.origins`: browser origins allowed to read the API ("*": any); CORS is off without it. */
  http: {
    host: string;
    port: number;
    requestsPerMinute: number;
    maxConnections: number;
    cors?: { origins: string[] };
  };
  /** How far ahead of this bridge's clock a reading may be dated (seconds). */
  maxFutureSkewSec: number;
  rateLimit: { perSecond: number; burst: number };
  /** Push feeds: the SensorFeeds contract and a JSON file of [{ feedId, deviationBps, heartbeatSec }]. */
  push?: { feedsContract?: Hex; feedsFile?: string };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  /**
   * Where committed batches go for good (bridge/archive/): `sqlite` (one file, default
   * `data/archive.sqlite` beside the config file; one bridge) or `postgres` (a server several
   * bridges share: `url`, or `host`/`port`/`user`/`database`; the password from `passwordFile`
   * or SO_ARCHIVE_PASSWORD, never in the file or the URL). `retentionDays`: drop archived batches
   * older than this (default: keep every proof for ever; roots stay on-chain). `hotSeconds`: how
   * long an archived batch stays in Redis too. `maxLagReadings`: readings of final batches allowed
   * to wait in Redis for an unreachable archive before new readings are refused (retry).
   */
  archive: ArchiveConfig;
};

export type ArchiveConfig = {
  kind: "sqlite" | "postgres";
  path: string;
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  passwordFile?: string;
  retentionDays?: number;
  hotSeconds: number;
  maxLagReadings: number;
};

type Spec = {
  key: string;
  env: string;
  kind: "string" | "url" | "file" | "dir" | "int" | "address" | "enum" | "origins" | "hostports";
  def?: unknown;
  values?: string[];
  optional?: boolean;
};

const SPECS: Spec[] = [
  { key: "mqtt.url", env: "SO_MQTT_URL", kind: "url" },
  { key: "mqtt.caFile", env: "SO_MQTT_CA_FILE", kind: "file" },
  { key: "mqtt.certFile", env: "SO_MQTT_CERT_FILE", kind: "file" },
  { key: "mqtt.keyFile", env: "SO_MQTT_KEY_FILE", kind: "file" },
  { key: "mqtt.protocolVersion", env: "SO_MQTT_PROTOCOL_VERSION", kind: "int", def: 5, values: ["4", "5"] },
  { key: "mqtt.shareGroup", env: "SO_MQTT_SHARE_GROUP", kind: "string", optional: true },
  { key: "mqtt.keepaliveSec", env: "SO_MQTT_KEEPALIVE_SEC", kind: "int", def: 60 },
  { key: "mqtt.sessionExpirySec", env: "SO_MQTT_SESSION_EXPIRY_SEC", kind: "int", def: 300 },
  { key: "redis.url", env: "SO_REDIS_URL", kind: "url" },
  { key: "redis.prefix", env: "SO_REDIS_PREFIX", kind: "string", def: "so" },
  { key: "redis.durabilityCheckSec", env: "SO_REDIS_DURABILITY_CHECK_SEC", kind: "int", def: 30 },
  { key: "redis.sentinels", env: "SO_REDIS_SENTINELS", kind: "hostports", optional: true },
  { key: "redis.name", env: "SO_REDIS_NAME", kind: "string", optional: true },
  { key: "redis.waitReplicas", env: "SO_REDIS_WAIT_REPLICAS", kind: "int", def: 0 },
  { key: "redis.waitReplicasTimeoutMs", env: "SO_REDIS_WAIT_REPLICAS_TIMEOUT_MS", kind: "int", def: 1000 },
  { key: "redis.tls.caFile", env: "SO_REDIS_TLS_CA_FILE", kind: "file", optional: true },
  { key: "redis.tls.certFile", env: "SO_REDIS_TLS_CERT_FILE", kind: "file", optional: true },
  { key: "redis.tls.keyFile", env: "SO_REDIS_TLS_KEY_FILE", kind: "file", optional: true },
  { key: "chain.rpcUrl", env: "SO_CHAIN_RPC_URL", kind: "url" },
  { key: "chain.chainId", env: "SO_CHAIN_ID", kind: "int" },
  { key: "chain.oracle", env: "SO_CHAIN_ORACLE", kind: "address" },
  { key: "chain.submitterKeyFile", env: "SO_CHAIN_SUBMITTER_KEY_FILE", kind: "file" },
  { key: "fleet.caFile", env: "SO_FLEET_CA_FILE", kind: "file" },
  { key: "fleet.certificatesDir", env: "SO_FLEET_CERTIFICATES_DIR", kind: "dir" },
  { key: "fleet.crlFile", env: "SO_FLEET_CRL_FILE", kind: "file", optional: true },
  { key: "batch.intervalMs", env: "SO_BATCH_INTERVAL_MS", kind: "int", def: 2000 },
  { key: "batch.maxSize", env: "SO_BATCH_MAX_SIZE", kind: "int", def: 1024 },
  { key: "http.host", env: "SO_HTTP_HOST", kind: "string", def: "127.0.0.1" },
  { key: "http.port", env: "SO_HTTP_PORT", kind: "int", def: 8080 },
  { key: "http.requestsPerMinute", env: "SO_HTTP_REQUESTS_PER_MINUTE", kind: "int", def: 600 },
  { key: "http.maxConnections", env: "SO_HTTP_MAX_CONNECTIONS", kind: "int", def: 256 },
  { key: "http.cors.origins", env: "SO_HTTP_CORS_ORIGINS", kind: "origins", optional: true },
  { key: "maxFutureSkewSec", env: "SO_MAX_FUTURE_SKEW_SEC", kind: "int", def: MAX_FUTURE_SKEW_SEC },
  { key: "rateLimit.perSecond", env: "SO_RATE_LIMIT_PER_SECOND", kind: "int", def: 20 },
  { key: "rateLimit.burst", env: "SO_RATE_LIMIT_BURST", kind: "int", def: 40 },
  { key: "push.feedsContract", env: "SO_PUSH_FEEDS_CONTRACT", kind: "address", optional: true },
  { key: "push.feedsFile", env: "SO_PUSH_FEEDS_FILE", kind: "file", optional: true },
  {
    key: "archive.kind",
    env: "SO_ARCHIVE_KIND",
    kind: "enum",
    def: "sqlite",
    values: ["sqlite", "postgres"],
  },
  { key: "archive.path", env: "SO_ARCHIVE_PATH", kind: "string", def: "data/archive.sqlite" },
  { key: "archive.url", env: "SO_ARCHIVE_URL", kind: "url", optional: true },
  { key: "archive.host", env: "SO_ARCHIVE_HOST", kind: "string", optional: true },
  { key: "archive.port", env: "SO_ARCHIVE_PORT", kind: "int", optional: true },
  { key: "archive.user", env: "SO_ARCHIVE_USER", kind: "string", optional: true },
  { key: "archive.database", env: "SO_ARCHIVE_DATABASE", kind: "string", optional: true },
  { key: "archive.passwordFile", env: "SO_ARCHIVE_PASSWORD_FILE", kind: "file", optional: true },
  { key: "archive.retentionDays", env: "SO_ARCHIVE_RETENTION_DAYS", kind: "int", optional: true },
  { key: "archive.hotSeconds", env: "SO_ARCHIVE_HOT_SECONDS", kind: "int", def: 60 },
  { key: "archive.maxLagReadings", env: "SO_ARCHIVE_MAX_LAG_READINGS", kind: "int", def: 1_000_000 },
  {
    key: "logLevel",
    env: "SO_LOG_LEVEL",
    kind: "enum",
    def: "info",
    values: ["fatal", "error", "warn", "info", "debug", "trace"],
  },
];

function get(obj: unknown, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>(
      (o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined),
      obj,
    );
}

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!o[k]) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys.at(-1) as string] = value;
}

/**
 * Load the configuration: a JSON file (relative paths in it are relative to the file), then
 * SO_* environment variables over it. Fails fast with a ConfigError naming the first bad key.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  let raw: unknown = {};
  const base = file ? dirname(resolve(file)) : process.cwd();
  if (file) {
    if (!existsSync(file)) throw new ConfigError("(file)", `not found: ${file}`);
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError("(file)", `is not valid JSON: ${(err as Error).message}`);
    }
  }
  const known = new Set(SPECS.map((s) => s.key));
  const walk = (o: unknown, prefix: string): void => {
    if (!o || typeof o !== "object" || Array.isArray(o)) return;
    for (const [k, v] of Object.entries(o)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (known.has(key)) continue;
      if (v && typeof v === "object" && SPECS.some((s) => s.key.startsWith(`${key}.`))) walk(v, key);
      else throw new ConfigError(key, "is not a known setting");
    }
  };
  walk(raw, "");
  const out: Record<string, unknown> = {};
  for (const spec of SPECS) {
    const fromEnv = env[spec.env];
    let v: unknown = fromEnv !== undefined && fromEnv !== "" ? fromEnv : get(raw, spec.key);
    const origin = fromEnv ? `(from ${spec.env})` : "";
    if (v === undefined || v === null || v === "") {
      if (spec.optional) continue;
      if (spec.def === undefined)
        throw new ConfigError(spec.key, `is required (set it in the file or ${spec.env})`);
      v = spec.def;
    }
    const bad = (what: string) => new ConfigError(spec.key, `${what} ${origin}`.trim());
    switch (spec.kind) {
      case "int": {
        const n = typeof v === "number" ? v : Number(v);
        if (!Number.isSafeInteger(n) || n < 0) throw bad("must be a non-negative integer");
        if (spec.values && !spec.values.includes(String(n)))
          throw bad(`must be one of ${spec.values.join(", ")}`);
        v = n;
        break;
      }
      case "url":
        try {
          new URL(String(v));
        } catch {
          throw bad("must be a URL");
        }
        break;
      case "file":
      case "dir": {
        const p = resolve(base, String(v));
        if (!existsSync(p)) throw bad(`points at a ${spec.kind} that does not exist: ${p}`);
        v = p;
        break;
      }
      case "address":
        if (typeof v !== "string" || !isAddress(v)) throw bad("must be a 0x address");
        break;
      case "origins": {
        // A JSON array, or (from the environment) a comma-separated list: "*" or http(s) origins.
        const list = Array.isArray(v)
          ? v
          : String(v)
              .split(",")
              .map((x) => x.trim());
        if (list.length === 0 || !list.every(isOrigin))
          throw bad('must be "*" or a list of origins such as "https://ops.example.com"');
        v = list;
        break;
      }
      case "enum":
        if (!spec.values?.includes(String(v))) throw bad(`must be one of ${spec.values?.join(", ")}`);
        break;
      case "hostports": {
        // [{ "host": "10.0.0.1", "port": 26379 }, ...] in the file; "10.0.0.1:26379,10.0.0.2:26379" in the environment.
        const list =
          typeof v === "string"
            ? v.split(",").map((hp) => {
                const i = hp.lastIndexOf(":");
                return { host: hp.slice(0, i).trim(), port: Number(hp.slice(i + 1)) };
              })
            : v;
        const ok = (e: unknown): e is { host: string; port: number } =>
          !!e &&
          typeof e === "object" &&
          typeof (e as { host?: unknown }).host === "string" &&
          (e as { host: string }).host.length > 0 &&
          Number.isSafeInteger((e as { port?: unknown }).port) &&
          (e as { port: number }).port > 0 &&
          (e as { port: number }).port < 65536;
        if (!Array.isArray(list) || list.length === 0 || !list.every(ok))
          throw bad("must be a non-empty list of { host, port } (host:port,host:port in the environment)");
        v = list.map((e) => ({ host: e.host, port: e.port }));
        break;
      }
      default:
        if (typeof v !== "string") throw bad("must be a string");
    }
    set(out, spec.key, v);
  }
  const mqtt = out.mqtt as {
    shareGroup?: string;
    protocolVersion: number;
    keepaliveSec: number;
    sessionExpirySec: number;
  };
  if (mqtt.keepaliveSec < 1 || mqtt.keepaliveSec > 65_535)
    throw new ConfigError("mqtt.keepaliveSec", "must be 1 to 65535 seconds");
  if (mqtt.sessionExpirySec > 0xffff_ffff)
    throw new ConfigError("mqtt.sessionExpirySec", "must be at most 4294967295 seconds");
  // A device that knows the bridges' share group can join it (Mosquitto's acl_file does not check
  // SUBSCRIBE): with MQTT 5 the group is a secret of the fleet, never a default name.
  if (mqtt.protocolVersion === 5 && mqtt.shareGroup === undefined)
    throw new ConfigError(
      "mqtt.shareGroup",
      "is required with MQTT 5: a secret name for the bridges' share group (broker config writes one to broker/bridge-settings.json)",
    );
  if (mqtt.shareGroup !== undefined && !SHARE_GROUP.test(mqtt.shareGroup))
    throw new ConfigError("mqtt.shareGroup", "must be 1 to 64 of A-Z a-z 0-9 _ -");
  const redis = out.redis as { sentinels?: unknown[]; name?: string };
  if (redis.sentinels && !redis.name)
    throw new ConfigError(
      "redis.name",
      "is required with redis.sentinels: the primary's name the sentinels monitor",
    );
  const tls = (out.redis as { tls?: Record<string, string> }).tls;
  if (tls && !(tls.caFile && tls.certFile && tls.keyFile)) {
    const missing = ["caFile", "certFile", "keyFile"].find((k) => !tls[k]);
    throw new ConfigError(`redis.tls.${missing}`, "is required when redis.tls is set");
  }
  const push = out.push as { feedsContract?: string; feedsFile?: string } | undefined;
  if (push && !!push.feedsContract !== !!push.feedsFile) {
    throw new ConfigError(
      push.feedsContract ? "push.feedsFile" : "push.feedsContract",
      "is required when the other push setting is set",
    );
  }
  checkArchive(out.archive as ArchiveConfig, base);
  return out as BridgeConfig;
}

/** "*", or an http(s) origin: scheme, host and port, nothing after. */
function isOrigin(x: unknown): boolean {
  if (x === "*") return true;
  if (typeof x !== "string") return false;
  try {
    const u = new URL(x);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin === x;
  } catch {
    return false;
  }
}

/** The archive section holds together: one kind's settings only, a connection for PostgreSQL, no password in it. */
function checkArchive(a: ArchiveConfig, base: string): void {
  const pg = ["url", "host", "port", "user", "database", "passwordFile"] as const;
  if (a.kind === "sqlite") {
    const stray = pg.find((k) => a[k] !== undefined);
    if (stray)
      throw new ConfigError(`archive.${stray}`, 'is a PostgreSQL setting: set archive.kind to "postgres"');
    a.path = resolve(base, a.path);
  } else {
    if (!a.url && !a.host)
      throw new ConfigError("archive.url", 'or archive.host is required with archive.kind "postgres"');
    if (a.url) {
      const u = new URL(a.url);
      if (u.protocol !== "postgres:" && u.protocol !== "postgresql:")
        throw new ConfigError("archive.url", "must be a postgres:// URL");
      if (u.password)
        throw new ConfigError(
          "archive.url",
          "must not hold a password: put it in archive.passwordFile or SO_ARCHIVE_PASSWORD",
        );
    }
  }
  if (a.retentionDays !== undefined && a.retentionDays < 1)
    throw new ConfigError("archive.retentionDays", "must be at least 1 (leave it out to keep every proof)");
  if (a.maxLagReadings < 1) throw new ConfigError("archive.maxLagReadings", "must be at least 1");
}

/** The feeds to push, from push.feedsFile: checked here so a bad entry fails at start, naming it. */
export function readPushedFeeds(file: string): { feedId: Hex; deviationBps: number; heartbeatSec: number }[] {
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError("push.feedsFile", `is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError("push.feedsFile", "must hold a non-empty JSON array");
  return list.map((f, i) => {
    const e = f as Record<string, unknown>;
    const bad = (what: string) => new ConfigError(`push.feedsFile[${i}].${what}`, "is missing or invalid");
    if (typeof e.feedId !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(e.feedId)) throw bad("feedId");
    if (!Number.isSafeInteger(e.deviationBps) || (e.deviationBps as number) <= 0) throw bad("deviationBps");
    if (!Number.isSafeInteger(e.heartbeatSec) || (e.heartbeatSec as number) <= 0) throw bad("heartbeatSec");
    return {
      feedId: e.feedId.toLowerCase() as Hex,
      deviationBps: e.deviationBps as number,
      heartbeatSec: e.heartbeatSec as number,
    };
  });
}

/** The submitter's private key from its file; the key never appears in an error. */
export function readPrivateKey(file: string): Hex {
  const v = readFileSync(file, "utf8").trim();
  const key = (v.startsWith("0x") ? v : `0x${v}`) as Hex;
  if (!isHex(key) || key.length !== 66)
    throw new ConfigError("chain.submitterKeyFile", "must hold a 32-byte hex private key");
  return key;
}

/** An RPC URL safe to log: scheme, host and port only (API keys live in paths and queries). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "(invalid url)";
  }
}
