// A misbehaving device as its own process (another host, in effect): connects with one device
// certificate and publishes `count` messages of `bytes` bytes each (random garbage, or nested JSON
// with `nested`) on that device's own readings topic as fast as the connection takes them.
// Input: a JSON job file (argv[2]). Prints "ready", waits for a line on stdin, prints "published <n> <ms>".
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { readingsTopic } from "../protocol/index.js";

export type FloodJob = {
  url: string;
  ca: string;
  device: { name: string; cert: string; key: string };
  count: number;
  bytes: number;
  kind: "garbage" | "nested";
  qos: 0 | 1;
  /**
   * Then one small garbage message, on a new connection if the broker dropped this one: it reaches
   * the bridge after anything the broker forwarded of the flood, so a test can tell when all has arrived.
   */
  trailer?: boolean;
};

const job = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as FloodJob;
const connect = async () => {
  const c = await mqtt.connectAsync(job.url, {
    ca: job.ca,
    cert: job.device.cert,
    key: job.device.key,
    protocolVersion: 5,
    clientId: job.device.name,
    reconnectPeriod: 0,
  });
  c.on("error", () => {}); // a broker that disconnects us for a message too large is expected
  return c;
};
let client = await connect();
const topic = readingsTopic(job.device.name);
const payload =
  job.kind === "nested"
    ? Buffer.from(`${"[".repeat(Math.floor(job.bytes / 2))}${"]".repeat(Math.floor(job.bytes / 2))}`)
    : randomBytes(job.bytes);
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
const t0 = performance.now();
let sent = 0;
let written: Promise<void> = Promise.resolve();
for (; sent < job.count && client.connected; sent++) {
  if (job.qos === 1) await client.publishAsync(topic, payload, { qos: 1 }).catch(() => {});
  else {
    // QoS 0 as fast as the socket drains: wait for the write only every 256 messages.
    written = new Promise<void>((resolve) => client.publish(topic, payload, { qos: 0 }, () => resolve()));
    if (sent % 256 === 255) await written;
  }
}
await written;
// Give the broker time to take the last message in before the connection closes.
await new Promise((r) => setTimeout(r, 500));
const ms = performance.now() - t0;
if (job.trailer) {
  // On a new connection: the broker may have dropped this one for a message above its limit.
  await client.endAsync(true).catch(() => {});
  client = await connect();
  await client.publishAsync(topic, randomBytes(16), { qos: 1 });
}
process.stdout.write(`published ${sent} ${ms.toFixed(0)}\n`);
await client.endAsync().catch(() => {});
process.exit(0);
