// Publisher process for the soak benchmark: connects every device of a job file (mTLS), signs
// readings as it goes (P-256 through node:crypto) and publishes them at a steady total rate for
// the job's duration. Prints "connected", then one JSON line per second ({sent}), then the ids
// and signing times of a sample of the readings ({sample}) when it ends.
import { sign as cryptoSign } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import type { Hex } from "viem";
import { encodeReadingMessage, normalizeLowS, readingDigest, readingsTopic } from "../protocol/index.js";

type Job = {
  url: string;
  ca: string;
  rate: number;
  seconds: number;
  feedId: Hex;
  domain: { chainId: number; registry: Hex };
  /** One reading in this many has its signing time reported (latency sample). */
  sampleEvery: number;
  devices: { name: string; deviceId: Hex; cert: string; key: string }[];
};
const job = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as Job;
const clients: mqtt.MqttClient[] = [];
for (let i = 0; i < job.devices.length; i += 50) {
  clients.push(
    ...(await Promise.all(
      job.devices.slice(i, i + 50).map((d) =>
        mqtt.connectAsync(job.url, {
          ca: job.ca,
          cert: d.cert,
          key: d.key,
          protocolVersion: 5,
          clientId: `s-${d.name.slice(0, 16)}`,
          reconnectPeriod: 1000,
        }),
      ),
    )),
  );
}
process.stdout.write("connected\n");
const seq = job.devices.map(() => 0n);
const sample: [string, number][] = [];
let sent = 0;
const t0 = performance.now();
const end = t0 + job.seconds * 1000;
let next = 0;
// A tick every 10 ms publishes what the rate owes by then, round robin over the devices.
while (performance.now() < end) {
  const owed = Math.floor(((performance.now() - t0) / 1000) * job.rate) - sent;
  for (let k = 0; k < owed; k++) {
    const i = next;
    next = (next + 1) % job.devices.length;
    const d = job.devices[i] as Job["devices"][number];
    seq[i] = (seq[i] as bigint) + 1n;
    const r = {
      deviceId: d.deviceId,
      feedId: job.feedId,
      value: BigInt(400 + (sent % 100)),
      timestamp: BigInt(Math.floor(Date.now() / 1000)),
      sequence: seq[i] as bigint,
    };
    const digest = readingDigest(r, job.domain);
    const sig = normalizeLowS(
      "p256",
      new Uint8Array(
        cryptoSign("sha256", Buffer.from(digest.slice(2), "hex"), { key: d.key, dsaEncoding: "ieee-p1363" }),
      ),
    );
    if (sent % job.sampleEvery === 0) sample.push([`${d.name}:${r.sequence}`, Date.now()]);
    (clients[i] as mqtt.MqttClient).publish(readingsTopic(d.name), encodeReadingMessage(r, sig), { qos: 1 });
    sent += 1;
  }
  if (Math.floor((performance.now() - t0) / 1000) !== Math.floor((performance.now() - t0 - 10) / 1000))
    process.stdout.write(`${JSON.stringify({ sent })}\n`);
  await new Promise((r) => setTimeout(r, 10));
}
// QoS 1: wait for the broker to take what is in flight.
await Promise.all(clients.map((c) => c.endAsync()));
// Exit once the report is written out (a pipe writes asynchronously).
process.stdout.write(
  `${JSON.stringify({ sent, sample, sequences: job.devices.map((d, i) => [d.name, String(seq[i])]) })}\n`,
  () => process.exit(0),
);
