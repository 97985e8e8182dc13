import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type AbiFunction, toFunctionSelector } from "viem";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../bridge/config.js";
import { RATE_LIMITED_ACK_EVERY_MS } from "../../bridge/intake.js";
import { sensorOracleAbi } from "../../chain/abi.js";
import { MAX_FUTURE_SKEW_SEC } from "../../protocol/index.js";

const ROOT = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");
const doc = read("docs/PROTOCOL.md");

// The figures docs/PROTOCOL.md gives a device's author, against the code they come from.
describe("docs/PROTOCOL.md agrees with the code", () => {
  it("gives verifyReading's and tryVerifyReading's selectors and signature from the ABI", () => {
    for (const name of ["verifyReading", "tryVerifyReading"]) {
      const fn = sensorOracleAbi.find((x) => x.type === "function" && x.name === name) as AbiFunction;
      expect(doc).toContain(`selector ${toFunctionSelector(fn)}`);
    }
    expect(doc).toContain("`verifyReading((bytes32,bytes32,int256,uint64,uint64),bytes,bytes32[])`");
  });

  it("states the acknowledgements' QoS as bridge/intake.ts publishes them", () => {
    const qos = /const ACK_OPTS = \{ qos: (\d) \}/.exec(read("bridge/intake.ts"))?.[1];
    expect(qos).toBeDefined();
    expect(doc).toContain(`acknowledgements at **QoS ${qos}**`);
  });

  it("states both clock limits and the rate limits at their defaults", () => {
    const maxFuture = /uint256 public constant MAX_FUTURE = (\d+);/.exec(
      read("contracts/SensorFeeds.sol"),
    )?.[1];
    expect(doc).toContain(`**${MAX_FUTURE_SKEW_SEC} s**`);
    expect(doc).toContain(`**${maxFuture} s**`);
    expect(doc).toContain(`**${RATE_LIMITED_ACK_EVERY_MS} ms**`);
    // The bridge's defaults (any settings file: the defaults apply to keys it leaves out).
    const env = {
      SO_MQTT_URL: "mqtts://b:8883",
      SO_MQTT_CA_FILE: import.meta.filename,
      SO_MQTT_CERT_FILE: import.meta.filename,
      SO_MQTT_KEY_FILE: import.meta.filename,
      SO_MQTT_SHARE_GROUP: "so-0123456789abcdef",
      SO_REDIS_URL: "redis://127.0.0.1:1",
      SO_CHAIN_RPC_URL: "http://127.0.0.1:1",
      SO_CHAIN_ID: "1",
      SO_CHAIN_ORACLE: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      SO_CHAIN_SUBMITTER_KEY_FILE: import.meta.filename,
      SO_FLEET_CA_FILE: import.meta.filename,
      SO_FLEET_CERTIFICATES_DIR: import.meta.dirname,
    };
    const config = loadConfig(undefined, env);
    expect(config.maxFutureSkewSec).toBe(MAX_FUTURE_SKEW_SEC);
    expect(doc).toContain(
      `**${config.rateLimit.perSecond} readings per second**, bursts of **${config.rateLimit.burst}**`,
    );
  });

  it("keeps every row of the payload table to its columns (no bare | inside a cell)", () => {
    const table = doc.slice(doc.indexOf("| member"), doc.indexOf("Example (the P-256 vector"));
    const rows = table.split("\n").filter((l) => l.startsWith("|"));
    expect(rows.length).toBe(8);
    for (const row of rows) expect(row.replace(/\\\|/g, "").split("|").length, row).toBe(5);
  });
});
