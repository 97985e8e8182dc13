// Publisher process for npm run bench: connects as each device (mTLS) and publishes pre-signed
// reading payloads as fast as the broker takes them (QoS 1). Input: a JSON job file (argv[2]).
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { readingsTopic } from "../protocol/index.js";

type Job = {
  url: string;
  ca: string;
  devices: { name: string; cert: string; key: string; payloads: string[] }[];
};
const job = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as Job;
const clients = await Promise.all(
  job.devices.map((d) =>
    mqtt.connectAsync(job.url, {
      ca: job.ca,
      cert: d.cert,
      key: d.key,
      protocolVersion: 5,
      clientId: `bench-${d.name.slice(0, 12)}-${process.pid}`,
      reconnectPeriod: 0,
    }),
  ),
);
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
const t0 = performance.now();
await Promise.all(
  job.devices.map(async (d, i) => {
    const c = clients[i] as mqtt.MqttClient;
    const topic = readingsTopic(d.name);
    const window = 200; // QoS 1 publishes in flight per device
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < d.payloads.length) {
          const p = d.payloads[next++] as string;
          await c.publishAsync(topic, p, { qos: 1 });
        }
      }),
    );
  }),
);
const total = job.devices.reduce((n, d) => n + d.payloads.length, 0);
process.stderr.write(
  `  publisher: ${total} published in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`,
);
process.stdout.write("published\n");
await Promise.all(clients.map((c) => c.endAsync()));
process.exit(0);
