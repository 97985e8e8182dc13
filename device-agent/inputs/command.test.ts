import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseFeeds } from "../feeds.js";
import { CollectingSink } from "./collecting-sink.fixture.js";
import { type CommandInputConfig, type CommandInputs, startCommandInputs } from "./command.js";
import type { InputLog } from "./input-log.js";
import { ReadingIntake } from "./reading-intake.js";

const feeds = parseFeeds([
  { name: "temperature", decimals: 3, min: -55, max: 125 },
  { name: "humidity", decimals: 1 },
]);
const dir = mkdtempSync(join(tmpdir(), "so-cmd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let running: CommandInputs | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function start(commands: CommandInputConfig[], opts: { now?: () => bigint } = {}) {
  const sink = new CollectingSink();
  const logged: { obj: Record<string, unknown>; msg: string }[] = [];
  const collect = (obj: object, msg: string) => logged.push({ obj: obj as Record<string, unknown>, msg });
  const log: InputLog = { info: collect, warn: collect, error: collect };
  const intake = new ReadingIntake({ feeds, sink, log });
  running = startCommandInputs({ intake, commands, log, killGraceMs: 300, ...opts });
  return { sink, intake, logged };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("command input: a command per feed on an interval", () => {
  it("takes the printed value exactly, timestamped when the command started, run after run", async () => {
    let t = 1_764_400_000n;
    const { sink } = start([{ feed: "temperature", command: ["printf", " 21.375\n"], intervalSec: 0.1 }], {
      now: () => t++,
    });
    await until(() => sink.readings.length >= 3);
    expect(sink.readings.slice(0, 3)).toEqual([
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_000n, sequence: 1n },
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_001n, sequence: 2n },
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_002n, sequence: 3n },
    ]);
  });

  it("reads a 1-Wire style file of milli-degrees with impliedDecimals 3", async () => {
    const file = join(dir, "w1_temperature");
    writeFileSync(file, "-1250\n");
    const { sink } = start([
      { feed: "temperature", command: ["cat", file], intervalSec: 60, impliedDecimals: 3 },
    ]);
    await until(() => sink.readings.length === 1);
    expect(sink.readings[0]?.value).toBe(-1_250n);
  });

  it("takes a JSON object with value and takenAt from a shell command", async () => {
    const { sink } = start([
      { feed: "humidity", command: `echo '{"value":"55.5","takenAt":1764400000}'`, intervalSec: 60 },
    ]);
    await until(() => sink.readings.length === 1);
    expect(sink.readings[0]).toEqual({
      feed: "humidity",
      value: 555n,
      takenAt: 1_764_400_000n,
      sequence: 1n,
    });
  });

  it("stamps the time the command started, not when it ended", async () => {
    const before = BigInt(Math.floor(Date.now() / 1000));
    const { sink } = start([
      { feed: "humidity", command: "sleep 2.2; echo 1", intervalSec: 60, timeoutSec: 10 },
    ]);
    await until(() => sink.readings.length === 1);
    const after = BigInt(Math.floor(Date.now() / 1000));
    expect(after - before).toBeGreaterThanOrEqual(2n);
    expect(sink.readings[0]?.takenAt).toBeLessThanOrEqual(before + 1n);
  });

  it("counts and logs a command that fails, cannot start, prints text, prints too much or is out of range, and keeps running them", async () => {
    const { sink, intake, logged } = start([
      { feed: "temperature", command: "echo broken sensor >&2; exit 3", intervalSec: 0.1 },
      { feed: "humidity", command: ["/nonexistent/read-sensor"], intervalSec: 0.1 },
    ]);
    await until(() => intake.stats().rejected.command.command_failed >= 6);
    expect(sink.readings).toEqual([]);
    const exit = logged.find((l) => String(l.obj.error).includes("status 3"));
    expect(exit?.obj).toMatchObject({
      feed: "temperature",
      reason: "command_failed",
      details: "stderr: broken sensor",
    });
    expect(logged.some((l) => String(l.obj.error).includes("could not start (ENOENT)"))).toBe(true);
    await running?.close();

    const more = start([
      { feed: "temperature", command: "echo hello", intervalSec: 0.1 },
      { feed: "humidity", command: "yes 1 | head -c 100000", intervalSec: 0.1 },
    ]);
    await until(() => more.intake.stats().rejected.command.not_a_number >= 2);
    await until(() => more.intake.stats().rejected.command.too_large >= 2);
    await running?.close();

    const odd = start([
      { feed: "temperature", command: "echo 900", intervalSec: 0.1 },
      { feed: "humidity", command: `echo '{"feed":"temperature","value":1}'`, intervalSec: 0.1 },
    ]);
    await until(() => odd.intake.stats().rejected.command.out_of_range >= 2);
    await until(() => odd.intake.stats().rejected.command.malformed >= 2);
    expect(odd.sink.readings).toEqual([]);
  });

  it("kills a command that hangs past its timeout, with what it started, and runs it again", async () => {
    const pidFile = join(dir, "hang.pid");
    const { intake, logged } = start([
      {
        feed: "humidity",
        command: `sleep 30 & echo $! > ${pidFile}; wait`,
        intervalSec: 0.2,
        timeoutSec: 0.3,
      },
    ]);
    await until(() => intake.stats().rejected.command.command_timeout >= 2);
    expect(logged.find((l) => l.obj.reason === "command_timeout")?.obj.error).toMatch(/within 0.3 s: killed/);
    await running?.close();
    running = undefined;
    // Gone, or a zombie nobody reaps (a container whose init does not): not running either way.
    const stat = `/proc/${Number(readFileSync(pidFile, "utf8"))}/stat`;
    if (existsSync(stat)) expect(readFileSync(stat, "utf8").split(" ")[2]).toBe("Z");
  });

  it("never runs a feed's command twice at once, even when it outlasts its interval", async () => {
    const lock = join(dir, "lock");
    const overlaps = join(dir, "overlaps");
    const command = `if [ -e ${lock} ]; then echo x >> ${overlaps}; fi; touch ${lock}; sleep 0.25; rm ${lock}; echo 1`;
    const { sink, logged } = start([{ feed: "humidity", command, intervalSec: 0.05, timeoutSec: 5 }]);
    await until(() => sink.readings.length >= 4);
    expect(existsSync(overlaps)).toBe(false);
    expect(logged.some((l) => l.msg.includes("longer than its interval"))).toBe(true);
  });

  it("takes readings from the other feeds while one command hangs", async () => {
    const { sink } = start([
      { feed: "temperature", command: "sleep 30", intervalSec: 60, timeoutSec: 30 },
      { feed: "humidity", command: ["echo", "1"], intervalSec: 0.1 },
    ]);
    await until(() => sink.readings.length >= 3);
    expect(sink.readings.every((r) => r.feed === "humidity")).toBe(true);
  });

  it("close() kills a running command and returns promptly", async () => {
    start([{ feed: "temperature", command: "sleep 30", intervalSec: 60, timeoutSec: 30 }]);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await running?.close();
    running = undefined;
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});
