// Publisher process for the memory benchmark: connects every device of a job file (mTLS) and has
// each publish pre-signed readings at a steady rate until told to stop (stdin closes).
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { readingsTopic } from "../protocol/index.js";

type Job = {
  url: string;
  ca: string;
  intervalMs: number;
  devices: { name: string; cert: string; key: string; payloads: string[] }[];
};
const job = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as Job;
const clients: mqtt.MqttClient[] = [];
for (let i = 0; i < job.devices.length; i += 50) {
  const chunk = job.devices.slice(i, i + 50);
  clients.push(
    ...(await Promise.all(
      chunk.map((d) =>
        mqtt.connectAsync(job.url, {
          ca: job.ca,
          cert: d.cert,
          key: d.key,
          protocolVersion: 5,
          clientId: `m-${d.name.slice(0, 16)}`,
          reconnectPeriod: 0,
        }),
      ),
    )),
  );
}
process.stdout.write(`connected ${clients.length}\n`);
let stop = false;
process.stdin.on("end", () => {
  stop = true;
});
process.stdin.resume();
await Promise.all(
  job.devices.map(async (d, i) => {
    await new Promise((r) => setTimeout(r, Math.random() * job.intervalMs));
    for (const p of d.payloads) {
      if (stop) return;
      (clients[i] as mqtt.MqttClient).publish(readingsTopic(d.name), p, { qos: 1 });
      await new Promise((r) => setTimeout(r, job.intervalMs));
    }
  }),
);
await Promise.all(clients.map((c) => c.endAsync()));
process.exit(0);
