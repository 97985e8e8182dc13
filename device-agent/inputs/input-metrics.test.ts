import { PassThrough } from "node:stream";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { parseFeeds } from "../feeds.js";
import { CollectingSink } from "./collecting-sink.fixture.js";
import { silentInputLog } from "./input-log.js";
import { registerInputMetrics } from "./input-metrics.js";
import { ReadingIntake } from "./reading-intake.js";
import { startStdinInput } from "./stdin.js";

describe("input metrics", () => {
  it("exports readings taken and refused by source and reason, as counted when scraped", async () => {
    const intake = new ReadingIntake({
      feeds: parseFeeds(["door"]),
      sink: new CollectingSink(),
      log: silentInputLog,
    });
    const registry = new Registry();
    registerInputMetrics(registry, () => intake.stats());
    const input = new PassThrough();
    const stdin = startStdinInput({ intake, input, errors: new PassThrough() });
    input.end('{"feed":"door","value":1}\n{"feed":"door","value":"open"}\n{"feed":"window","value":1}\nx\n');
    await stdin.done;
    await intake.take("api", { feed: "door", value: 0 }, { receivedAt: 1n });
    const text = await registry.metrics();
    expect(text).toContain('sensor_oracle_agent_input_readings_taken_total{source="stdin"} 1');
    expect(text).toContain('sensor_oracle_agent_input_readings_taken_total{source="api"} 1');
    expect(text).toContain('sensor_oracle_agent_input_readings_taken_total{source="http"} 0');
    expect(text).toContain(
      'sensor_oracle_agent_input_readings_refused_total{source="stdin",reason="not_a_number"} 1',
    );
    expect(text).toContain(
      'sensor_oracle_agent_input_readings_refused_total{source="stdin",reason="unknown_feed"} 1',
    );
    expect(text).toContain(
      'sensor_oracle_agent_input_readings_refused_total{source="stdin",reason="malformed"} 1',
    );
    expect(text).toContain(
      'sensor_oracle_agent_input_readings_refused_total{source="command",reason="command_timeout"} 0',
    );
    // A second scrape reports the same totals (read, not added up).
    expect(await registry.metrics()).toBe(text);
  });
});
