import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { InputConfigError, ReadingInputError, type ReadingInputReason } from "../errors.js";
import type { TakenReading } from "../reading-sink.js";
import type { InputLog } from "./input-log.js";
import { unixNow } from "./reading-input.js";
import type { ReadingIntake } from "./reading-intake.js";

/** `inputs.http`: a loopback TCP port, or a Unix socket that local applications POST readings to. */
export type HttpInputConfig = (
  | { host?: string; port: number }
  | {
      socket: string;
      /** File mode of the socket (default 0o660: the agent's user and group may post). */
      socketMode?: number;
    }
) & {
  /** Bind a host that is not loopback: anyone who reaches it can submit readings the device signs. */
  allowNonLoopback?: boolean;
  /** Larger bodies are answered 413. Default 64 KiB. */
  maxBodyBytes?: number;
};

export type HttpInputParameters = {
  intake: ReadingIntake;
  config: HttpInputConfig;
  log: InputLog;
  /** Unix seconds now: the takenAt of a reading posted without one. */
  now?: () => bigint;
};

export type HttpInput = {
  /** Where it listens: the port actually bound (port 0 picks one), or the socket path. */
  readonly address: { host: string; port: number } | { socket: string };
  close(): Promise<void>;
};

/** Seconds a client is asked to wait after a 503 (the outbox full). */
const RETRY_AFTER_SEC = 5;
/** On close, requests in progress get this long to be answered. */
const CLOSE_GRACE_MS = 2_000;
const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/;

/** Is this a loopback host (127.0.0.0/8, ::1, localhost)? */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * `POST /readings` with one reading `{"feed":"temperature","value":21.5,"takenAt"?:1764400000}` or
 * a list of them. Answers:
 * - 201 `{"sequences":["41","42"]}`: every reading taken, in order;
 * - 400 `{"error":"invalid_readings","errors":[{"index":1,"reason":"out_of_range","message":...}]}`:
 *   some reading is not valid; none of the request was taken (fix it and send it again);
 * - 400 `{"error":"malformed"}` (not JSON, not a reading or list), 413 `too_large` (above
 *   maxBodyBytes), 404 and 405 for other paths and methods;
 * - 503 `{"error":"outbox_full","sequences":[...taken before],"notTaken":[2,3]}` with Retry-After:
 *   the agent's outbox is at its quota; the readings listed in notTaken were not taken.
 * Every refused reading is counted by reason; the server keeps serving.
 */
export async function startHttpInput(p: HttpInputParameters): Promise<HttpInput> {
  const c = p.config;
  const now = p.now ?? unixNow;
  const maxBody = c.maxBodyBytes ?? 64 * 1024;
  if ("port" in c && !c.allowNonLoopback && !isLoopbackHost(c.host ?? "127.0.0.1"))
    throw new InputConfigError(
      "inputs.http.host",
      `${c.host} is not a loopback address: readings posted there are signed by this device; set allowNonLoopback to mean it`,
    );
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      p.log.error({ err }, "http input failed on a request");
      if (!res.headersSent)
        send(res, 500, { error: "internal", message: "the request could not be handled" });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const refuse = (res: ServerResponse, status: number, err: ReadingInputError, extra: object = {}) => {
    p.intake.refused("http", err);
    p.log.warn(
      { source: "http", status, reason: err.reason, error: err.shortMessage },
      "http reading refused",
    );
    send(res, status, { error: err.reason, message: err.shortMessage, ...extra });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/readings")
      return send(res, 404, { error: "not_found", message: "POST readings to /readings" });
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      return send(res, 405, { error: "method_not_allowed", message: "POST readings to /readings" });
    }
    const tooLarge = new ReadingInputError("too_large", `the body is larger than ${maxBody} bytes`);
    if (Number(req.headers["content-length"] ?? 0) > maxBody)
      return closeAfter(req, res, () => refuse(res, 413, tooLarge));
    const body = await readBody(req, maxBody);
    if (body === "aborted") return; // the client went away: nobody to answer, nothing taken
    if (body === "too_large") return closeAfter(req, res, () => refuse(res, 413, tooLarge));
    const receivedAt = now();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch (err) {
      return refuse(
        res,
        400,
        new ReadingInputError("malformed", `the body is not JSON (${(err as Error).message})`),
      );
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length === 0)
      return refuse(res, 400, new ReadingInputError("malformed", "the list of readings is empty"));
    // Every reading checked first: a request with an invalid one takes none.
    const readings: TakenReading[] = [];
    const errors: { index: number; reason: ReadingInputReason; message: string }[] = [];
    list.forEach((input, index) => {
      try {
        readings.push(p.intake.check("http", input, { receivedAt }));
      } catch (err) {
        const e = err as ReadingInputError;
        errors.push({ index, reason: e.reason, message: e.shortMessage });
      }
    });
    if (errors.length > 0) {
      p.log.warn(
        { source: "http", status: 400, refused: errors.length, first: errors[0] },
        "http readings refused",
      );
      return send(res, 400, {
        error: "invalid_readings",
        message: `${errors.length} of ${list.length} readings are not valid; none was taken`,
        errors,
      });
    }
    const sequences: string[] = [];
    for (const [index, reading] of readings.entries()) {
      try {
        sequences.push((await p.intake.hand("http", reading)).sequence.toString());
      } catch (err) {
        const e = err as ReadingInputError;
        const rest = readings.length - index - 1;
        if (rest > 0) p.intake.refused("http", e, rest);
        const status = e.reason === "outbox_full" ? 503 : e.reason === "unknown_feed" ? 400 : 500;
        if (status === 503) res.setHeader("Retry-After", String(RETRY_AFTER_SEC));
        p.log.warn(
          { source: "http", status, reason: e.reason, notTaken: rest + 1 },
          "http readings refused by the agent",
        );
        return send(res, status, {
          error: e.reason,
          message: e.shortMessage,
          sequences,
          notTaken: Array.from({ length: rest + 1 }, (_, i) => index + i),
        });
      }
    }
    send(res, 201, { sequences });
  }

  await listen(server, c);
  const a = server.address();
  const address =
    "socket" in c
      ? { socket: c.socket }
      : { host: c.host ?? "127.0.0.1", port: typeof a === "object" && a ? a.port : 0 };
  if ("socket" in c) chmodSync(c.socket, c.socketMode ?? 0o660);
  p.log.info({ source: "http", ...address }, "http input listening");
  return {
    address,
    // No new connections; requests being handled get their answer (a reading taken and not
    // answered would be sent again by its client) for up to 2 s, then every connection is closed.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }),
  };
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Answer, then close the connection: the rest of an oversized body is not read. */
function closeAfter(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  res.setHeader("Connection", "close");
  answer();
  res.on("finish", () => req.socket.destroySoon());
}

/** The body; "too_large" once it grows past `max` bytes (reading stops there); "aborted" if the client left. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | "too_large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (d: Buffer) => {
      size += d.length;
      if (size > max) {
        req.off("data", onData);
        req.pause();
        resolve("too_large");
      } else chunks.push(d);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    // After "end" or "too_large" these change nothing (a promise settles once).
    req.on("error", () => resolve("aborted"));
    req.on("close", () => resolve("aborted"));
  });
}

async function listen(server: Server, c: HttpInputConfig): Promise<void> {
  if ("socket" in c) await clearStaleSocket(c.socket);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if ("socket" in c) server.listen(c.socket, done);
    else server.listen(c.port, c.host ?? "127.0.0.1", done);
  });
}

/** A socket file left by an agent that died is removed; a live one (another agent) or any other file is not. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new InputConfigError("inputs.http.socket", `${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new InputConfigError("inputs.http.socket", `${path} is in use by a running process`);
  unlinkSync(path);
}
