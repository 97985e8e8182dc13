import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseFeeds } from "../feeds.js";
import { CollectingSink } from "./collecting-sink.fixture.js";
import { silentInputLog } from "./input-log.js";
import { ReadingIntake } from "./reading-intake.js";
import { startStdinInput } from "./stdin.js";

const feeds = parseFeeds([
  { name: "temperature", decimals: 3, min: -55, max: 125 },
  { name: "humidity", decimals: 1 },
]);

function setup(opts: { maxLineChars?: number } = {}) {
  const sink = new CollectingSink();
  const intake = new ReadingIntake({ feeds, sink, log: silentInputLog });
  const input = new PassThrough();
  const errors = new PassThrough();
  let errText = "";
  errors.on("data", (d) => {
    errText += d.toString();
  });
  const stdin = startStdinInput({ intake, input, errors, now: () => 1_764_400_123n, ...opts });
  return { sink, intake, input, stdin, errLines: () => errText.split("\n").filter(Boolean) };
}

describe("stdin input: JSON lines", () => {
  it("takes readings in order with exact values, their takenAt or the time the line was read", async () => {
    const { sink, input, stdin, errLines } = setup();
    input.write('{"feed":"temperature","value":21.375,"takenAt":1764400000}\n');
    input.write('{"feed":"humidity","value":"55.5"}\r\n\n   \n');
    // A line split across writes, and a last line without a newline.
    input.write('{"feed":"temper');
    input.end('ature","value":-4.5,"takenAt":"1764400001"}');
    await stdin.done;
    expect(errLines()).toEqual([]);
    expect(sink.readings).toEqual([
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_000n, sequence: 1n },
      { feed: "humidity", value: 555n, takenAt: 1_764_400_123n, sequence: 2n },
      { feed: "temperature", value: -4_500n, takenAt: 1_764_400_001n, sequence: 3n },
    ]);
  });

  it("reports each bad line on stderr by number and reason, counts it, and keeps reading", async () => {
    const { sink, intake, input, stdin, errLines } = setup({ maxLineChars: 200 });
    const lines = [
      "garbage",
      '{"feed":"temperature","value":"abc"}',
      '{"feed":"pressure","value":1}',
      '{"feed":"temperature","value":500}',
      '{"feed":"temperature","value":21.3755}',
      '{"feed":"temperature","value":21,"takenAt":1764400000000}',
      '["feed","temperature"]',
      '{"feed":"temperature","value":21,"extra":1}',
      `{"feed":"temperature","value":"${"1".repeat(300)}"}`,
      '{"feed":"temperature","value":22}',
      "\u0000\u00ff binary",
    ];
    input.end(`${lines.join("\n")}\n`);
    await stdin.done;
    expect(errLines()).toEqual([
      expect.stringMatching(/^stdin line 1: malformed: not JSON/),
      expect.stringMatching(/^stdin line 2: not_a_number: value "abc" is not a number/),
      expect.stringMatching(/^stdin line 3: unknown_feed: unknown feed "pressure"/),
      expect.stringMatching(/^stdin line 4: out_of_range: /),
      expect.stringMatching(/^stdin line 5: too_precise: /),
      expect.stringMatching(/^stdin line 6: bad_timestamp: .*milliseconds/),
      expect.stringMatching(/^stdin line 7: malformed: /),
      expect.stringMatching(/^stdin line 8: malformed: unknown field "extra"/),
      expect.stringMatching(/^stdin line 9: too_large: /),
      expect.stringMatching(/^stdin line 11: malformed: not JSON/),
    ]);
    expect(sink.readings.map((r) => r.value)).toEqual([22_000n]);
    const s = intake.stats();
    expect(s.taken.stdin).toBe(1);
    expect(s.rejected.stdin).toMatchObject({
      malformed: 4,
      not_a_number: 1,
      unknown_feed: 1,
      out_of_range: 1,
      too_precise: 1,
      bad_timestamp: 1,
      too_large: 1,
    });
  });

  it("refuses a line that grows beyond the limit without a newline, then takes the next one", async () => {
    const { sink, input, stdin, errLines } = setup({ maxLineChars: 1_000 });
    for (let i = 0; i < 50; i++) input.write("x".repeat(500));
    input.end('\n{"feed":"humidity","value":1}\n');
    await stdin.done;
    expect(errLines()).toEqual([expect.stringMatching(/^stdin line 1: too_large: line longer than 1000/)]);
    expect(sink.readings.map((r) => r.value)).toEqual([10n]);
  });

  it("reports a full outbox for the line and goes on once the outbox has room", async () => {
    const { sink, intake, input, stdin, errLines } = setup();
    sink.full = true;
    input.write('{"feed":"humidity","value":1}\n');
    await new Promise((r) => setTimeout(r, 50));
    sink.full = false;
    input.end('{"feed":"humidity","value":2}\n');
    await stdin.done;
    expect(errLines()).toEqual([expect.stringMatching(/^stdin line 1: outbox_full: /)]);
    expect(sink.readings.map((r) => r.value)).toEqual([20n]);
    expect(intake.stats().rejected.stdin.outbox_full).toBe(1);
  });

  it("keeps the order of lines when the sink is slow", async () => {
    const { sink, input, stdin } = setup();
    sink.delayMs = 2;
    for (let i = 0; i < 200; i++) input.write(`{"feed":"humidity","value":${i}}\n`);
    input.end();
    await stdin.done;
    expect(sink.readings.map((r) => r.value)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i * 10)));
  });
});
