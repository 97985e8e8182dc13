import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { ReadingInputError } from "../errors.js";
import { unixNow } from "./reading-input.js";
import type { ReadingIntake } from "./reading-intake.js";

export type StdinInputParameters = {
  intake: ReadingIntake;
  /** Default process.stdin. */
  input?: Readable;
  /** Where a refused line is reported, one line each (default process.stderr). */
  errors?: Writable;
  /** Longer lines are refused (`too_large`) without being kept in memory. Default 64 KiB. */
  maxLineChars?: number;
  /** Unix seconds now; the takenAt of a line without one is when it was read. */
  now?: () => bigint;
};

export type StdinInput = {
  /** Resolves once the input has ended and every line read has been handled. */
  readonly done: Promise<void>;
  /** Stop reading (the stream itself is left open); lines already read are still handled. */
  close(): Promise<void>;
};

/** Lines read but not yet handed over, at most; beyond it the stream is paused (backpressure). */
const MAX_QUEUED_LINES = 1_000;

/**
 * Readings as JSON lines on stdin: `{"feed":"temperature","value":21.5,"takenAt":1764400000}`,
 * takenAt optional (then the time the line was read). Lines are taken in order, one at a time. A
 * line that is not a reading is counted and reported on `errors` as
 * `stdin line 7: not_a_number: value "abc" is not a number`, and reading goes on. Blank lines are
 * skipped. The input ending (EOF) ends only this source, not the agent.
 */
export function startStdinInput(p: StdinInputParameters): StdinInput {
  const input = p.input ?? process.stdin;
  const errors = p.errors ?? process.stderr;
  const maxLine = p.maxLineChars ?? 64 * 1024;
  const now = p.now ?? unixNow;
  const decoder = new StringDecoder("utf8");
  const queue: { text: string | null; no: number; at: bigint }[] = [];
  let partial = "";
  let oversized = false;
  let lineNo = 0;
  let ended = false;
  let working = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const push = (text: string | null) => {
    lineNo += 1;
    queue.push({ text, no: lineNo, at: now() });
  };
  const onData = (chunk: Buffer | string) => {
    const parts = (partial + (typeof chunk === "string" ? chunk : decoder.write(chunk))).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      // A line that outgrew the limit was dropped as it came; its end is where it is reported.
      push(oversized || line.length > maxLine ? null : line);
      oversized = false;
    }
    if (partial.length > maxLine) {
      oversized = true;
      partial = "";
    }
    if (queue.length >= MAX_QUEUED_LINES) input.pause();
    void pump();
  };
  const onEnd = () => {
    partial += decoder.end();
    if (oversized || partial.trim() !== "") push(oversized || partial.length > maxLine ? null : partial);
    partial = "";
    stop();
  };
  const stop = () => {
    ended = true;
    input.off("data", onData);
    input.off("end", onEnd);
    void pump();
  };

  const report = (no: number, err: ReadingInputError) => {
    errors.write(`stdin line ${no}: ${err.reason}: ${err.shortMessage}\n`);
  };
  const handle = async (line: { text: string | null; no: number; at: bigint }) => {
    if (line.text === null) {
      const err = new ReadingInputError("too_large", `line longer than ${maxLine} characters`);
      report(line.no, p.intake.refused("stdin", err));
      return;
    }
    const text = line.text.endsWith("\r") ? line.text.slice(0, -1) : line.text;
    if (text.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      const why = new ReadingInputError("malformed", `not JSON (${(err as Error).message})`);
      report(line.no, p.intake.refused("stdin", why));
      return;
    }
    try {
      await p.intake.take("stdin", parsed, { receivedAt: line.at });
    } catch (err) {
      report(line.no, err as ReadingInputError);
    }
  };
  const pump = async () => {
    if (working) return;
    working = true;
    try {
      for (let line = queue.shift(); line; line = queue.shift()) {
        await handle(line);
        if (queue.length < MAX_QUEUED_LINES / 2 && !ended) input.resume();
      }
    } finally {
      working = false;
    }
    if (ended) finish();
  };

  input.on("data", onData);
  input.on("end", onEnd);
  return {
    done,
    close: async () => {
      if (!ended) {
        input.pause();
        stop();
      }
      await done;
    },
  };
}
