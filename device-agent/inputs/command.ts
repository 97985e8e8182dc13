import { type ChildProcess, spawn } from "node:child_process";
import { ReadingInputError } from "../errors.js";
import type { InputLog } from "./input-log.js";
import { unixNow } from "./reading-input.js";
import type { ReadingIntake } from "./reading-intake.js";

/** One entry of `inputs.commands`: a command that prints a feed's value, run every intervalSec. */
export type CommandInputConfig = {
  feed: string;
  /** An argument list run without a shell (["cat", "/sys/..."]), or a string run by /bin/sh -c. */
  command: string[] | string;
  intervalSec: number;
  /** The command is killed (its whole process group) after this long. Default: the interval, at most 10 s. */
  timeoutSec?: number;
  /** The command prints an integer count of 10^-impliedDecimals units (1-Wire milli-degrees: 3). */
  impliedDecimals?: number;
};

export type CommandInputsParameters = {
  intake: ReadingIntake;
  commands: readonly CommandInputConfig[];
  log: InputLog;
  /** Unix seconds now: a reading's takenAt is when its command started. */
  now?: () => bigint;
  /** More output than this is refused (`too_large`) and the command killed. Default 4 KiB. */
  maxOutputBytes?: number;
  /** After SIGTERM, a command still running gets SIGKILL this much later. Default 2 s. */
  killGraceMs?: number;
};

export type CommandInputs = {
  /** Stop the schedules, kill running commands, resolve when they are gone. */
  close(): Promise<void>;
};

/**
 * A command per feed, run on an interval: its output, trimmed, is the value ("21.375"), or a JSON
 * object {"value": ..., "takenAt"?: ...}; the reading is timestamped when the command started. A
 * command that cannot start, exits non-zero, is killed, runs past its timeout (then its process
 * group is killed) or prints something else is counted and logged, and runs again at its next
 * time. A feed's command never runs twice at once: the next run starts an interval after the
 * previous one started, or as soon as it ended when it ran longer than that.
 */
export function startCommandInputs(p: CommandInputsParameters): CommandInputs {
  const runners = p.commands.map((c) => new CommandRunner(c, p));
  for (const r of runners) r.start();
  return {
    close: async () => {
      await Promise.all(runners.map((r) => r.close()));
    },
  };
}

class CommandRunner {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #child: ChildProcess | undefined;
  #closed = false;
  #overrunLogged = false;
  readonly #now: () => bigint;
  readonly #maxOutput: number;
  readonly #grace: number;

  constructor(
    private readonly c: CommandInputConfig,
    private readonly p: CommandInputsParameters,
  ) {
    this.#now = p.now ?? unixNow;
    this.#maxOutput = p.maxOutputBytes ?? 4096;
    this.#grace = p.killGraceMs ?? 2_000;
  }

  start(): void {
    this.#schedule(0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#child) this.#kill("SIGTERM");
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    const started = Date.now();
    this.#running = this.#runOnce();
    await this.#running;
    this.#running = undefined;
    const next = started + this.c.intervalSec * 1000 - Date.now();
    if (next < 0 && !this.#overrunLogged) {
      this.#overrunLogged = true;
      this.p.log.warn(
        { feed: this.c.feed, ranMs: Date.now() - started, intervalSec: this.c.intervalSec },
        "command ran longer than its interval: the next run starts when it ends",
      );
    }
    this.#schedule(Math.max(0, next));
  }

  async #runOnce(): Promise<void> {
    const takenAt = this.#now();
    let output: string;
    try {
      output = await this.#run();
    } catch (err) {
      this.#refused(this.p.intake.refused("command", err));
      return;
    }
    let input: unknown;
    try {
      input = this.#inputOf(output.trim());
    } catch (err) {
      this.#refused(this.p.intake.refused("command", err));
      return;
    }
    try {
      await this.p.intake.take("command", input, {
        receivedAt: takenAt,
        ...(this.c.impliedDecimals === undefined ? {} : { impliedDecimals: this.c.impliedDecimals }),
      });
    } catch (err) {
      this.#refused(err as ReadingInputError);
    }
  }

  /** The reading the output means: a bare value, or an object with value and takenAt. */
  #inputOf(text: string): unknown {
    if (text === "") throw new ReadingInputError("not_a_number", "the command printed nothing");
    if (!text.startsWith("{")) return { feed: this.c.feed, value: text };
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (err) {
      throw new ReadingInputError("malformed", `output is not JSON (${(err as Error).message})`);
    }
    if (typeof o !== "object" || o === null)
      throw new ReadingInputError("malformed", "output is not an object");
    const { feed, ...rest } = o as Record<string, unknown>;
    if (feed !== undefined && feed !== this.c.feed)
      throw new ReadingInputError(
        "malformed",
        `output names feed ${JSON.stringify(feed)}, the command is for "${this.c.feed}"`,
      );
    return { feed: this.c.feed, ...rest };
  }

  #refused(err: ReadingInputError): void {
    this.p.log.warn(
      {
        feed: this.c.feed,
        reason: err.reason,
        error: err.shortMessage,
        ...(err.details ? { details: err.details } : {}),
      },
      "command reading refused",
    );
  }

  /** Run the command once: resolves with its standard output, rejects with a ReadingInputError. */
  #run(): Promise<string> {
    const [file, ...args] =
      typeof this.c.command === "string" ? ["/bin/sh", "-c", this.c.command] : this.c.command;
    const timeoutMs = (this.c.timeoutSec ?? Math.min(this.c.intervalSec, 10)) * 1000;
    return new Promise((resolve, reject) => {
      // Its own process group, so a timeout kills what a shell started too.
      const child = spawn(file ?? "", args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
      this.#child = child;
      const out: Buffer[] = [];
      let outBytes = 0;
      let errTail = "";
      let failure: ReadingInputError | undefined;
      const fail = (e: ReadingInputError) => {
        failure ??= e;
        this.#kill("SIGTERM");
      };
      const timer = setTimeout(
        () =>
          fail(
            new ReadingInputError(
              "command_timeout",
              `the command did not finish within ${timeoutMs / 1000} s: killed`,
            ),
          ),
        timeoutMs,
      );
      child.stdout?.on("data", (d: Buffer) => {
        outBytes += d.length;
        if (outBytes > this.#maxOutput)
          fail(
            new ReadingInputError(
              "too_large",
              `the command printed more than ${this.#maxOutput} bytes: killed`,
            ),
          );
        else out.push(d);
      });
      child.stderr?.on("data", (d: Buffer) => {
        errTail = (errTail + d.toString("utf8")).slice(-300);
      });
      child.on("error", (err) => {
        failure ??= new ReadingInputError(
          "command_failed",
          `the command could not start (${(err as NodeJS.ErrnoException).code ?? err.message})`,
          {
            cause: err,
          },
        );
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        // Once it was told to stop, nothing it started may outlive it (a child forked as the
        // group was signalled would otherwise keep running).
        if ((failure || this.#closed) && child.pid) killGroup(child.pid, "SIGKILL");
        this.#child = undefined;
        const stderr = errTail.trim() ? { details: `stderr: ${errTail.trim()}` } : {};
        if (failure) reject(failure);
        else if (signal)
          reject(new ReadingInputError("command_failed", `the command was killed by ${signal}`, stderr));
        else if (code !== 0)
          reject(new ReadingInputError("command_failed", `the command exited with status ${code}`, stderr));
        else resolve(Buffer.concat(out).toString("utf8"));
      });
    });
  }

  /** Signal the running command's process group; SIGKILL follows SIGTERM after the grace time. */
  #kill(signal: "SIGTERM" | "SIGKILL"): void {
    const child = this.#child;
    if (!child?.pid) return;
    killGroup(child.pid, signal);
    if (signal === "SIGTERM") {
      const t = setTimeout(() => {
        if (this.#child === child) this.#kill("SIGKILL");
      }, this.#grace);
      t.unref();
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
