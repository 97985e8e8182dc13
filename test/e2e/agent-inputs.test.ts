import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { type FeedTable, parseFeeds } from "../../device-agent/feeds.js";
import { type RunningInputs, startInputs } from "../../device-agent/inputs/index.js";
import type { ReadingSink } from "../../device-agent/reading-sink.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

/**
 * The agent's inputs in front of a real device agent: readings from stdin, a command and the local
 * HTTP endpoint are signed, sent over Mosquitto with mTLS, queued by the bridge in Redis and
 * committed, each with the value and time the source gave; malformed input on each source is
 * refused and counted while the agent goes on.
 */
describe("agent inputs to the bridge (Mosquitto mTLS, Redis, Hardhat)", () => {
  let ca: FleetCa;
  let redis: Service;
  let broker: Service;
  let stack: Stack;
  let bridge: Bridge;
  let store: RedisStore;
  let device: IssuedDevice;
  let agent: DeviceAgent;
  let inputs: RunningInputs | undefined;

  beforeAll(async () => {
    ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    device = await enrollDevice(stack, ca, "p256");
    const certificates = new FleetCertificates(ca.certPem);
    certificates.add(device.certPem);
    ({ bridge, store } = await startTestBridge(ca, infra, { prefix: "inputs", certificates }));
    agent = await startDeviceAgent(device, siteOn(ca, broker, stack));
  });

  afterAll(async () => {
    await inputs?.close();
    await agent?.stop().catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  /** Today's DeviceAgent as a ReadingSink (the agent of issue 14 implements take itself). */
  const sinkOf = (a: DeviceAgent, feeds: FeedTable): ReadingSink => ({
    take: async (r) => {
      const feed = feeds.get(r.feed);
      if (!feed) throw new Error(`unknown feed ${r.feed}`);
      return { sequence: await a.publish(feed.feedId, r.value, r.takenAt) };
    },
  });

  it("commits what stdin, a command and HTTP took, with their values and times, and refuses their garbage", async () => {
    const feeds = parseFeeds([
      { name: "cold-room-7/temperature", decimals: 1, unit: "°C", min: -40, max: 80 },
      { name: "cold-room-7/humidity", decimals: 1, unit: "%RH" },
    ]);
    expect(feeds.get("cold-room-7/temperature")?.feedId).toBe(stack.feedId);
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    let errText = "";
    stderr.on("data", (d) => {
      errText += d;
    });
    const t = Math.floor(Date.now() / 1000) - 5;
    inputs = await startInputs(
      {
        stdin: true,
        commands: [
          { feed: "cold-room-7/temperature", command: ["printf", "4.5\\n"], intervalSec: 3600 },
          { feed: "cold-room-7/humidity", command: "echo sensor unplugged >&2; exit 1", intervalSec: 0.2 },
        ],
        http: { port: 0 },
      },
      feeds,
      sinkOf(agent, feeds),
      { info() {}, warn() {}, error() {} },
      { stdin, stderr },
    );
    const url = `http://127.0.0.1:${(inputs.http as { port: number }).port}/readings`;
    stdin.write(`{"feed":"cold-room-7/temperature","value":"21.5","takenAt":${t}}\n`);
    stdin.write("garbage\n");
    stdin.write('{"feed":"cold-room-7/temperature","value":200}\n');
    const post = (body: string) => fetch(url, { method: "POST", body });
    expect((await post("not json")).status).toBe(400);
    expect((await post("x".repeat(70 * 1024))).status).toBe(413);
    expect((await post(JSON.stringify({ feed: "warehouse/humidity", value: 1 }))).status).toBe(400);
    const taken = await post(
      JSON.stringify({ feed: "cold-room-7/temperature", value: -3.2, takenAt: t + 1 }),
    );
    expect(taken.status).toBe(201);

    const until = Date.now() + 15_000;
    const enough = (s: ReturnType<RunningInputs["stats"]>) =>
      s.taken.command + s.taken.stdin >= 2 && s.rejected.command.command_failed >= 3;
    while (!enough(inputs.stats()) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const stats = inputs.stats();
    expect(stats.taken).toEqual({ stdin: 1, command: 1, http: 1, api: 0 });
    expect(stats.rejected.stdin).toMatchObject({ malformed: 1, out_of_range: 1 });
    expect(stats.rejected.http).toMatchObject({ malformed: 1, too_large: 1, unknown_feed: 1 });
    expect(stats.rejected.command.command_failed).toBeGreaterThanOrEqual(3);
    expect(errText).toMatch(/^stdin line 2: malformed: not JSON/m);
    expect(errText).toMatch(/^stdin line 3: out_of_range: /m);

    for (const seq of [1n, 2n, 3n])
      expect(await agent.waitForAck(seq)).toEqual({ sequence: seq, status: "queued" });
    await bridge.flush();
    const served = await Promise.all(
      [1, 2, 3].map(async (seq) => {
        const res = await bridge.app.inject({ method: "GET", url: `/readings/${device.name}:${seq}` });
        expect(res.statusCode).toBe(200);
        return (
          res.json() as { status: string; reading: { value: string; timestamp: string; feedId: string } }
        ).reading;
      }),
    );
    expect(served.every((r) => r.feedId === stack.feedId)).toBe(true);
    const byValue = Object.fromEntries(served.map((r) => [r.value, r.timestamp]));
    expect(byValue["215"]).toBe(String(t));
    expect(byValue["-32"]).toBe(String(t + 1));
    // The command's reading carries the time it ran: now, within the test's run.
    expect(Number(byValue["45"])).toBeGreaterThanOrEqual(t);
    expect(Number(byValue["45"])).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});
