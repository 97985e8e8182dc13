import { createServer } from "node:net";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { InputConfigError, ReadingInputError } from "../errors.js";
import { parseFeeds } from "../feeds.js";
import { CollectingSink } from "./collecting-sink.fixture.js";
import { parseInputsConfig, startInputs } from "./index.js";
import { silentInputLog } from "./input-log.js";

const feeds = parseFeeds([
  { name: "temperature", decimals: 3 },
  { name: "humidity", decimals: 1 },
]);

function keyOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputConfigError) return err.key;
    throw err;
  }
  throw new Error("expected an InputConfigError");
}

describe("inputs config", () => {
  it("reads stdin, commands and http (port or socket)", () => {
    expect(
      parseInputsConfig(
        {
          stdin: true,
          commands: [
            {
              feed: "temperature",
              command: ["cat", "/sys/x"],
              intervalSec: 10,
              timeoutSec: 2,
              impliedDecimals: 3,
            },
            { feed: "humidity", command: "read-humidity --once", intervalSec: 30 },
          ],
          http: { port: 8089 },
        },
        feeds,
      ),
    ).toEqual({
      stdin: true,
      commands: [
        {
          feed: "temperature",
          command: ["cat", "/sys/x"],
          intervalSec: 10,
          timeoutSec: 2,
          impliedDecimals: 3,
        },
        { feed: "humidity", command: "read-humidity --once", intervalSec: 30 },
      ],
      http: { host: "127.0.0.1", port: 8089 },
    });
    expect(
      parseInputsConfig({ http: { socket: "/run/so/readings.sock", socketMode: 0o600 } }, feeds),
    ).toEqual({
      http: { socket: "/run/so/readings.sock", socketMode: 0o600 },
    });
    expect(parseInputsConfig(undefined, feeds)).toEqual({});
  });

  it("names the offending key of a bad inputs section", () => {
    const cmd = { feed: "temperature", command: "true", intervalSec: 1 };
    const cases: [unknown, string][] = [
      [[], "inputs"],
      [{ stdn: true }, "inputs.stdn"],
      [{ stdin: "yes" }, "inputs.stdin"],
      [{ commands: {} }, "inputs.commands"],
      [{ commands: [{ ...cmd, feed: "pressure" }] }, "inputs.commands[0].feed"],
      [{ commands: [cmd, cmd] }, "inputs.commands[1].feed"],
      [{ commands: [{ ...cmd, command: [] }] }, "inputs.commands[0].command"],
      [{ commands: [{ ...cmd, command: "  " }] }, "inputs.commands[0].command"],
      [{ commands: [{ ...cmd, command: ["cat", 3] }] }, "inputs.commands[0].command"],
      [{ commands: [{ ...cmd, intervalSec: 0 }] }, "inputs.commands[0].intervalSec"],
      [{ commands: [{ ...cmd, intervalSec: "10" }] }, "inputs.commands[0].intervalSec"],
      [{ commands: [{ ...cmd, timeoutSec: -1 }] }, "inputs.commands[0].timeoutSec"],
      [{ commands: [{ ...cmd, impliedDecimals: 2.5 }] }, "inputs.commands[0].impliedDecimals"],
      [{ commands: [{ ...cmd, every: 5 }] }, "inputs.commands[0].every"],
      [{ http: {} }, "inputs.http"],
      [{ http: { port: 1, socket: "/run/x.sock" } }, "inputs.http"],
      [{ http: { port: 70000 } }, "inputs.http.port"],
      [{ http: { host: "0.0.0.0", port: 8089 } }, "inputs.http.host"],
      [{ http: { socket: "x.sock" } }, "inputs.http.socket"],
      [{ http: { socket: "/run/x.sock", host: "127.0.0.1" } }, "inputs.http.host"],
      [{ http: { port: 1, maxBodyBytes: 10 } }, "inputs.http.maxBodyBytes"],
    ];
    for (const [section, key] of cases) expect(keyOf(() => parseInputsConfig(section, feeds))).toBe(key);
    expect(
      parseInputsConfig({ http: { host: "0.0.0.0", port: 8089, allowNonLoopback: true } }, feeds).http,
    ).toEqual({
      host: "0.0.0.0",
      port: 8089,
      allowNonLoopback: true,
    });
  });
});

describe("startInputs", () => {
  it("runs stdin, a command, HTTP and code into one sink, counting by source and reason", async () => {
    const sink = new CollectingSink();
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    const inputs = await startInputs(
      {
        stdin: true,
        commands: [{ feed: "humidity", command: ["echo", "40.5"], intervalSec: 60 }],
        http: { port: 0 },
      },
      feeds,
      sink,
      silentInputLog,
      { stdin, stderr, now: () => 1_764_400_000n },
    );
    try {
      stdin.write('{"feed":"temperature","value":"1.5"}\nnope\n');
      const port = (inputs.http as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/readings`, {
        method: "POST",
        body: JSON.stringify({ feed: "temperature", value: 2.25 }),
      });
      expect(res.status).toBe(201);
      expect(await inputs.take({ feed: "temperature", value: "3.125", takenAt: 1_764_399_999 })).toEqual({
        sequence: expect.any(BigInt),
      });
      await expect(inputs.take({ feed: "temperature", value: "x" })).rejects.toBeInstanceOf(
        ReadingInputError,
      );
      const until = Date.now() + 5_000;
      while (sink.readings.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(sink.readings.map((r) => `${r.feed}=${r.value}@${r.takenAt}`).sort()).toEqual([
        "humidity=405@1764400000",
        "temperature=1500@1764400000",
        "temperature=2250@1764400000",
        "temperature=3125@1764399999",
      ]);
      const s = inputs.stats();
      expect(s.taken).toEqual({ stdin: 1, command: 1, http: 1, api: 1 });
      expect(s.rejected.stdin.malformed).toBe(1);
      expect(s.rejected.api.not_a_number).toBe(1);
    } finally {
      await inputs.close();
    }
    // Closed: the port no longer answers.
    await expect(
      fetch(`http://127.0.0.1:${(inputs.http as { port: number }).port}/readings`),
    ).rejects.toThrow();
  });

  it("rejects when the HTTP port is taken, leaving no input running", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const sink = new CollectingSink();
    const stdin = new PassThrough();
    try {
      await expect(
        startInputs(
          {
            stdin: true,
            commands: [{ feed: "humidity", command: ["echo", "1"], intervalSec: 0.05 }],
            http: { port },
          },
          feeds,
          sink,
          silentInputLog,
          { stdin },
        ),
      ).rejects.toThrow(/EADDRINUSE/);
      stdin.write('{"feed":"humidity","value":1}\n');
      await new Promise((r) => setTimeout(r, 300));
      expect(sink.readings).toEqual([]);
    } finally {
      blocker.close();
    }
  });
});
