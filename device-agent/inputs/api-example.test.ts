import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { recordTemperature } from "../../docs/examples/record-temperature.js";
import { ReadingInputError } from "../errors.js";
import { CollectingSink } from "./collecting-sink.fixture.js";

describe("docs/GATEWAY.md: readings from TypeScript", () => {
  it("shows the example file as it is", () => {
    const example = readFileSync("docs/examples/record-temperature.ts", "utf8");
    expect(readFileSync("docs/GATEWAY.md", "utf8")).toContain(example);
  });

  it("runs: the agent takes the exact value at the time given, and a bad value is refused", async () => {
    const agent = new CollectingSink();
    expect(await recordTemperature(agent, "21.375", new Date(1_764_400_000_500))).toBe(1n);
    expect(await recordTemperature(agent, -4.5, new Date(1_764_400_001_000))).toBe(2n);
    expect(agent.readings).toEqual([
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_000n, sequence: 1n },
      { feed: "temperature", value: -4_500n, takenAt: 1_764_400_001n, sequence: 2n },
    ]);
    await expect(recordTemperature(agent, 300)).rejects.toMatchObject({ reason: "out_of_range" });
    await expect(recordTemperature(agent, "21.3755")).rejects.toBeInstanceOf(ReadingInputError);
  });
});
