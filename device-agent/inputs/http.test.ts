import { spawn } from "node:child_process";
import { lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { InputConfigError } from "../errors.js";
import { parseFeeds } from "../feeds.js";
import { CollectingSink } from "./collecting-sink.fixture.js";
import { type HttpInput, type HttpInputConfig, startHttpInput } from "./http.js";
import { silentInputLog } from "./input-log.js";
import { ReadingIntake } from "./reading-intake.js";

const feeds = parseFeeds([
  { name: "temperature", decimals: 3, min: -55, max: 125 },
  { name: "humidity", decimals: 1 },
]);
const dir = mkdtempSync(join(tmpdir(), "so-http-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let server: HttpInput | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(config: HttpInputConfig = { port: 0 }) {
  const sink = new CollectingSink();
  const intake = new ReadingIntake({ feeds, sink, log: silentInputLog });
  server = await startHttpInput({ intake, config, log: silentInputLog, now: () => 1_764_400_123n });
  const a = server.address;
  const base = "port" in a ? `http://127.0.0.1:${a.port}` : "";
  const post = async (body: string | object, path = "/readings") => {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };
  return { sink, intake, post, base, port: "port" in a ? a.port : 0 };
}

/** A request over a Unix socket or with a chunked body (fetch sets a length), answered status and JSON. */
function raw(
  target: { socketPath: string } | { port: number },
  o: { method?: string; path?: string; chunks: (string | Buffer)[] },
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, host: "127.0.0.1", method: o.method ?? "POST", path: o.path ?? "/readings" },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    for (const c of o.chunks) req.write(c);
    req.end();
  });
}

describe("http input: POST /readings on loopback or a Unix socket", () => {
  it("takes one reading or a list, exact values, their takenAt or the time of the request", async () => {
    const { sink, post } = await start();
    const one = await post({ feed: "temperature", value: "21.375", takenAt: 1_764_400_000 });
    expect(one).toMatchObject({ status: 201, body: { sequences: ["1"] } });
    const two = await post([
      { feed: "humidity", value: 55.5 },
      { feed: "temperature", value: -4, takenAt: "1764400001" },
    ]);
    expect(two).toMatchObject({ status: 201, body: { sequences: ["2", "3"] } });
    expect(sink.readings).toEqual([
      { feed: "temperature", value: 21_375n, takenAt: 1_764_400_000n, sequence: 1n },
      { feed: "humidity", value: 555n, takenAt: 1_764_400_123n, sequence: 2n },
      { feed: "temperature", value: -4_000n, takenAt: 1_764_400_001n, sequence: 3n },
    ]);
  });

  it("answers each invalid reading by index and reason, takes none of that request, and keeps serving", async () => {
    const { sink, intake, post } = await start();
    const res = await post([
      { feed: "humidity", value: 1 },
      { feed: "temperature", value: true },
      { feed: "pressure", value: 1 },
      { feed: "temperature", value: 999 },
      { feed: "temperature", value: "21.3755" },
      { feed: "temperature", value: 21, takenAt: -5 },
      { feed: 5, value: 1 },
      "21.5",
    ]);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_readings");
    expect((res.body.errors as { index: number; reason: string }[]).map((e) => [e.index, e.reason])).toEqual([
      [1, "not_a_number"],
      [2, "unknown_feed"],
      [3, "out_of_range"],
      [4, "too_precise"],
      [5, "bad_timestamp"],
      [6, "malformed"],
      [7, "malformed"],
    ]);
    expect(sink.readings).toEqual([]);
    expect(intake.stats().rejected.http).toMatchObject({
      not_a_number: 1,
      unknown_feed: 1,
      out_of_range: 1,
      too_precise: 1,
      bad_timestamp: 1,
      malformed: 2,
    });
    expect((await post({ feed: "humidity", value: 1 })).status).toBe(201);
  });

  it("answers 400 to a body that is not JSON or an empty list, 404 and 405 elsewhere", async () => {
    const { intake, post, base } = await start();
    expect(await post("{not json")).toMatchObject({ status: 400, body: { error: "malformed" } });
    expect(await post("[]")).toMatchObject({ status: 400, body: { error: "malformed" } });
    expect(await post("")).toMatchObject({ status: 400, body: { error: "malformed" } });
    expect((await post({ feed: "humidity", value: 1 }, "/reading")).status).toBe(404);
    const get = await fetch(`${base}/readings`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(intake.stats().rejected.http.malformed).toBe(3);
  });

  it("answers 413 to a body above the limit, with or without a length, and keeps serving", async () => {
    const { sink, intake, post, port } = await start({ port: 0, maxBodyBytes: 1_000 });
    const big = JSON.stringify(Array.from({ length: 100 }, () => ({ feed: "humidity", value: 1 })));
    expect(await post(big)).toMatchObject({ status: 413, body: { error: "too_large" } });
    const chunked = await raw({ port }, { chunks: Array.from({ length: 20 }, () => "[".repeat(100)) });
    expect(chunked).toMatchObject({ status: 413, body: { error: "too_large" } });
    expect(intake.stats().rejected.http.too_large).toBe(2);
    expect((await post({ feed: "humidity", value: 2 })).status).toBe(201);
    expect(sink.readings.map((r) => r.value)).toEqual([20n]);
  });

  it("answers 503 with Retry-After when the outbox is full, naming what was not taken", async () => {
    const { sink, intake, post } = await start();
    sink.full = true;
    const res = await post([
      { feed: "humidity", value: 1 },
      { feed: "humidity", value: 2 },
    ]);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.body).toMatchObject({ error: "outbox_full", sequences: [], notTaken: [0, 1] });
    expect(intake.stats().rejected.http.outbox_full).toBe(2);
    sink.full = false;
    expect(await post({ feed: "humidity", value: 3 })).toMatchObject({
      status: 201,
      body: { sequences: ["1"] },
    });
  });

  it("answers a request in progress when it is closed, then refuses new connections", async () => {
    const { sink, post, base } = await start();
    sink.delayMs = 300;
    const pending = post({ feed: "humidity", value: 1 });
    await new Promise((r) => setTimeout(r, 100));
    const closing = server?.close();
    server = undefined;
    expect(await pending).toMatchObject({ status: 201, body: { sequences: ["1"] } });
    await closing;
    await expect(fetch(`${base}/readings`, { method: "POST", body: "{}" })).rejects.toThrow();
  });

  it("counts nothing for a client that leaves before its body is complete", async () => {
    const { intake, port } = await start();
    const req = request({
      port,
      host: "127.0.0.1",
      method: "POST",
      path: "/readings",
      headers: { "content-length": 500 },
    });
    req.on("error", () => {});
    req.write('{"feed":"humidity",');
    await new Promise((r) => setTimeout(r, 100));
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const rejected = Object.values(intake.stats().rejected.http).reduce((a, b) => a + b, 0);
    expect(rejected).toBe(0);
  });

  it("refuses to listen beyond loopback unless told to", async () => {
    await expect(start({ host: "0.0.0.0", port: 0 })).rejects.toBeInstanceOf(InputConfigError);
    await expect(start({ host: "192.168.1.10", port: 0 })).rejects.toThrow(/allowNonLoopback/);
    const ok = await start({ host: "0.0.0.0", port: 0, allowNonLoopback: true });
    expect(ok.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await ok.post({ feed: "humidity", value: 1 })).status).toBe(201);
  });

  it("serves a Unix socket (mode 0660), replacing a stale socket file but not a live one or another file", async () => {
    const socketPath = join(dir, "agent.sock");
    // A socket left by a process that died (kill -9): the file is there, nobody listens.
    const dead = spawn(process.execPath, [
      "-e",
      "require('node:net').createServer().listen(process.argv[1], () => console.log('up'))",
      socketPath,
    ]);
    await new Promise((r) => dead.stdout.once("data", r));
    dead.kill("SIGKILL");
    await new Promise((r) => dead.once("exit", r));
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    const { sink } = await start({ socket: socketPath });
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    const res = await raw({ socketPath }, { chunks: ['{"feed":"temperature","value":"21.5"}'] });
    expect(res).toMatchObject({ status: 201, body: { sequences: ["1"] } });
    expect(sink.readings[0]?.value).toBe(21_500n);
    // A second agent on the same socket is refused while the first one lives.
    const intake = new ReadingIntake({ feeds, sink, log: silentInputLog });
    await expect(
      startHttpInput({ intake, config: { socket: socketPath }, log: silentInputLog }),
    ).rejects.toThrow(/in use/);
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "x");
    await expect(startHttpInput({ intake, config: { socket: file }, log: silentInputLog })).rejects.toThrow(
      /not a socket/,
    );
  });
});
