import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../bridge/config.js";
import { ConfigError } from "../../bridge/errors.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** The first ```json block after `heading` in docs/OPERATIONS.md. */
function jsonBlockAfter(heading: string): string {
  const doc = readFileSync(join(ROOT, "docs/OPERATIONS.md"), "utf8");
  const at = doc.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const block = /```json\n([\s\S]*?)```/.exec(doc.slice(at));
  expect(block, `a json block after ${heading}`).not.toBeNull();
  return (block as RegExpExecArray)[1] as string;
}

describe("docs/OPERATIONS.md", () => {
  it("gives a smallest configuration that the bridge's own parser loads, with the documented defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), "so-ops-sample-"));
    try {
      const text = jsonBlockAfter("### A sample configuration");
      writeFileSync(join(dir, "bridge.json"), text);
      // The files and folder it names, where a fleet folder has them.
      for (const f of [
        "broker/ca-chain.pem",
        "broker/bridge.pem",
        "broker/bridge.key",
        "secrets/submitter.key",
        "ca/ca-chain.pem",
        "ca/crl.pem",
      ]) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), "");
      }
      mkdirSync(join(dir, "devices"));
      const env = {
        SO_MQTT_SHARE_GROUP: "so-0123456789abcdef",
        SO_CHAIN_RPC_URL: "https://rpc.example.org/key",
      };
      // As the document says: the share group and the RPC URL come from the environment.
      expect(() => loadConfig(join(dir, "bridge.json"), { SO_CHAIN_RPC_URL: env.SO_CHAIN_RPC_URL })).toThrow(
        /mqtt\.shareGroup/,
      );
      expect(() =>
        loadConfig(join(dir, "bridge.json"), { SO_MQTT_SHARE_GROUP: env.SO_MQTT_SHARE_GROUP }),
      ).toThrow(ConfigError);
      const config = loadConfig(join(dir, "bridge.json"), env);
      expect(config.mqtt.certFile).toBe(join(dir, "broker/bridge.pem"));
      expect(config.fleet.crlFile).toBe(join(dir, "ca/crl.pem"));
      expect(config.chain.rpcUrl).toBe(env.SO_CHAIN_RPC_URL);
      expect(config).toMatchObject({
        batch: { intervalMs: 2000, maxSize: 1024 },
        http: { host: "127.0.0.1", port: 8080, requestsPerMinute: 600, maxConnections: 256 },
        rateLimit: { perSecond: 20, burst: 40 },
        maxFutureSkewSec: 30,
        logLevel: "info",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
