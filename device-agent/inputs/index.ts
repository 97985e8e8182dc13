import { isAbsolute } from "node:path";
import type { Readable, Writable } from "node:stream";
import { InputConfigError } from "../errors.js";
import { type FeedTable, MAX_FEED_DECIMALS } from "../feeds.js";
import type { ReadingSink } from "../reading-sink.js";
import { type CommandInputConfig, type CommandInputs, startCommandInputs } from "./command.js";
import { type HttpInput, type HttpInputConfig, isLoopbackHost, startHttpInput } from "./http.js";
import type { InputLog } from "./input-log.js";
import { type ReadingInput, unixNow } from "./reading-input.js";
import { type InputStats, ReadingIntake } from "./reading-intake.js";
import { type StdinInput, startStdinInput } from "./stdin.js";

export type { CommandInputConfig } from "./command.js";
export type { HttpInputConfig } from "./http.js";
export type { InputLog } from "./input-log.js";
export type { ReadingInput } from "./reading-input.js";
export type { InputSource, InputStats } from "./reading-intake.js";

/** The agent config's `inputs` section: where readings come from (any combination). */
export type InputsConfig = {
  /** JSON lines on standard input. */
  stdin?: boolean;
  /** A command per feed, run on an interval. */
  commands?: CommandInputConfig[];
  /** POST /readings on a loopback port or a Unix socket. */
  http?: HttpInputConfig;
};

export type StartInputsOptions = {
  /** Default process.stdin and process.stderr (where refused lines are reported). */
  stdin?: Readable;
  stderr?: Writable;
  /** Unix seconds now (the takenAt of readings that carry none). */
  now?: () => bigint;
};

export type RunningInputs = {
  /**
   * A reading from code (source "api"): `{ feed, value, takenAt? }` in the feed's unit, checked and
   * scaled like every other input. Rejects with a counted ReadingInputError.
   */
  take(input: ReadingInput): Promise<{ sequence: bigint }>;
  /** Readings taken and refused, by source and reason. */
  stats(): InputStats;
  /** Where the HTTP input listens, when configured. */
  readonly http: HttpInput["address"] | undefined;
  /** Stop every input: stdin is no longer read, running commands are killed, the HTTP server closes. */
  close(): Promise<void>;
};

/**
 * Start the configured inputs, each handing its readings to `sink` through one ReadingIntake
 * (checked against `feeds`, counted by source and reason). Rejects when an input cannot start
 * (the HTTP port or socket taken); then nothing is left running.
 */
export async function startInputs(
  config: InputsConfig,
  feeds: FeedTable,
  sink: ReadingSink,
  log: InputLog,
  options: StartInputsOptions = {},
): Promise<RunningInputs> {
  const now = options.now ?? unixNow;
  const intake = new ReadingIntake({ feeds, sink, log });
  const http = config.http ? await startHttpInput({ intake, config: config.http, log, now }) : undefined;
  const commands: CommandInputs | undefined = config.commands?.length
    ? startCommandInputs({ intake, commands: config.commands, log, now })
    : undefined;
  const stdin: StdinInput | undefined = config.stdin
    ? startStdinInput({
        intake,
        now,
        ...(options.stdin ? { input: options.stdin } : {}),
        ...(options.stderr ? { errors: options.stderr } : {}),
      })
    : undefined;
  if (stdin)
    void stdin.done.then(() => log.info({ source: "stdin" }, "stdin ended: no more readings from it"));
  log.info(
    {
      stdin: Boolean(stdin),
      commands: config.commands?.map((c) => c.feed) ?? [],
      http: http?.address ?? null,
    },
    "inputs started",
  );
  return {
    take: (input) => intake.take("api", input, { receivedAt: now() }),
    stats: () => intake.stats(),
    http: http?.address,
    close: async () => {
      await Promise.all([stdin?.close(), commands?.close(), http?.close()]);
    },
  };
}

const INPUTS_KEYS = ["stdin", "commands", "http"];
const COMMAND_KEYS = ["feed", "command", "intervalSec", "timeoutSec", "impliedDecimals"];
const HTTP_KEYS = ["host", "port", "socket", "socketMode", "allowNonLoopback", "maxBodyBytes"];

/**
 * Read and check the config's `inputs` section against the device's feeds. Throws
 * InputConfigError naming the key: unknown keys, a command for a feed the config does not list
 * (or two for one feed), a non-loopback host without allowNonLoopback, a relative socket path.
 */
export function parseInputsConfig(section: unknown, feeds: FeedTable, key = "inputs"): InputsConfig {
  if (section === undefined) return {};
  const s = objectAt(section, key, INPUTS_KEYS);
  const out: InputsConfig = {};
  if (s.stdin !== undefined) {
    if (typeof s.stdin !== "boolean") throw new InputConfigError(`${key}.stdin`, "expected true or false");
    out.stdin = s.stdin;
  }
  if (s.commands !== undefined) {
    if (!Array.isArray(s.commands))
      throw new InputConfigError(`${key}.commands`, "expected a list of commands");
    const seen = new Set<string>();
    out.commands = s.commands.map((c, i) => {
      const parsed = parseCommand(c, `${key}.commands[${i}]`, feeds);
      if (seen.has(parsed.feed))
        throw new InputConfigError(
          `${key}.commands[${i}].feed`,
          `feed "${parsed.feed}" already has a command`,
        );
      seen.add(parsed.feed);
      return parsed;
    });
  }
  if (s.http !== undefined) out.http = parseHttp(s.http, `${key}.http`);
  return out;
}

function parseCommand(c: unknown, key: string, feeds: FeedTable): CommandInputConfig {
  const o = objectAt(c, key, COMMAND_KEYS);
  if (typeof o.feed !== "string" || !feeds.has(o.feed))
    throw new InputConfigError(
      `${key}.feed`,
      `expected one of the configured feeds (${[...feeds.keys()].join(", ")})`,
    );
  const cmd = o.command;
  const okCommand =
    (typeof cmd === "string" && cmd.trim() !== "") ||
    (Array.isArray(cmd) && cmd.length > 0 && cmd.every((a) => typeof a === "string") && cmd[0] !== "");
  if (!okCommand)
    throw new InputConfigError(
      `${key}.command`,
      'expected an argument list ["cat", "/path"] or a shell command string',
    );
  const out: CommandInputConfig = {
    feed: o.feed,
    command: cmd as string | string[],
    intervalSec: positive(o.intervalSec, `${key}.intervalSec`),
  };
  if (o.timeoutSec !== undefined) out.timeoutSec = positive(o.timeoutSec, `${key}.timeoutSec`);
  if (o.impliedDecimals !== undefined) {
    const d = o.impliedDecimals;
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d > MAX_FEED_DECIMALS)
      throw new InputConfigError(
        `${key}.impliedDecimals`,
        `expected a whole number from 0 to ${MAX_FEED_DECIMALS}`,
      );
    out.impliedDecimals = d;
  }
  return out;
}

function parseHttp(h: unknown, key: string): HttpInputConfig {
  const o = objectAt(h, key, HTTP_KEYS);
  const common: { allowNonLoopback?: boolean; maxBodyBytes?: number } = {};
  if (o.allowNonLoopback !== undefined) {
    if (typeof o.allowNonLoopback !== "boolean")
      throw new InputConfigError(`${key}.allowNonLoopback`, "expected true or false");
    common.allowNonLoopback = o.allowNonLoopback;
  }
  if (o.maxBodyBytes !== undefined) {
    const m = o.maxBodyBytes;
    if (typeof m !== "number" || !Number.isInteger(m) || m < 256 || m > 16 * 1024 * 1024)
      throw new InputConfigError(
        `${key}.maxBodyBytes`,
        "expected a whole number of bytes from 256 to 16 MiB",
      );
    common.maxBodyBytes = m;
  }
  if ((o.socket === undefined) === (o.port === undefined))
    throw new InputConfigError(key, "expected either port (with host) or socket");
  if (o.socket !== undefined) {
    if (typeof o.socket !== "string" || !isAbsolute(o.socket))
      throw new InputConfigError(
        `${key}.socket`,
        "expected an absolute path such as /run/sensor-oracle/readings.sock",
      );
    if (o.host !== undefined) throw new InputConfigError(`${key}.host`, "a socket has no host");
    const out: HttpInputConfig = { socket: o.socket, ...common };
    if (o.socketMode !== undefined) {
      const m = o.socketMode;
      if (typeof m !== "number" || !Number.isInteger(m) || m < 0 || m > 0o777)
        throw new InputConfigError(`${key}.socketMode`, "expected a file mode such as 432 (0o660)");
      out.socketMode = m;
    }
    return out;
  }
  const port = o.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InputConfigError(`${key}.port`, "expected a port number from 0 to 65535");
  if (o.socketMode !== undefined) throw new InputConfigError(`${key}.socketMode`, "only for a socket");
  const host = o.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "")
    throw new InputConfigError(`${key}.host`, "expected an address");
  if (!isLoopbackHost(host) && !common.allowNonLoopback)
    throw new InputConfigError(
      `${key}.host`,
      `${host} is not a loopback address: readings posted there are signed by this device; set allowNonLoopback to mean it`,
    );
  return { host, port, ...common };
}

function objectAt(v: unknown, key: string, known: string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new InputConfigError(key, "expected an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!known.includes(k))
      throw new InputConfigError(`${key}.${k}`, `unknown key (known: ${known.join(", ")})`);
  }
  return o;
}

function positive(v: unknown, key: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    throw new InputConfigError(key, "expected a number of seconds above 0");
  return v;
}
