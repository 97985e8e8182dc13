import { randomBytes } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFleetCa,
  type FleetCa,
  type IssuedCertificate,
  type IssuedDevice,
} from "../../pki/fleet-ca.js";
import { MESSAGE_SIZE_LIMIT } from "../../pki/mosquitto-config.js";
import { BRIDGE_SUBSCRIPTION, bridgeSubscription } from "../../protocol/wire.js";
import { startMosquitto } from "../../testkit/mosquitto.js";
import type { Service } from "../../testkit/process.js";

const BRIDGE_CN = "sensor-oracle-bridge";
/** The client id the bridge asks for: not its CN (the broker replaces it with the CN). */
const BRIDGE_CLIENT_ID = "sensor-oracle-bridge-host-1234-abcdef";
/** The fleet's secret share group (mqtt.shareGroup; `broker config` makes one). */
const SHARE_GROUP = `so-${randomBytes(16).toString("hex")}`;
const readings = (name: string) => `so/v1/devices/${name}/readings`;
const settle = () => new Promise((r) => setTimeout(r, 500));

describe("the generated broker configuration holds devices to their own topics, ids and sizes", () => {
  let ca: FleetCa;
  let broker: Service;
  let bridgeCert: IssuedCertificate;
  let a: IssuedDevice;
  let b: IssuedDevice;
  let bridge: MqttClient;
  const toBridge: { topic: string; size: number }[] = [];
  let bridgeCloses = 0;
  const clients: MqttClient[] = [];

  const connect = async (cert: { certPem: string; keyPem: string }, clientId: string) => {
    const c = await mqtt.connectAsync(broker.url, {
      ca: ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      clientId,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ca = await createFleetCa();
    const server = await ca.issueServer({ commonName: "localhost" });
    bridgeCert = await ca.issueClient({ commonName: BRIDGE_CN });
    [a, b] = await Promise.all([ca.issueDevice({ curve: "p256" }), ca.issueDevice({ curve: "secp256k1" })]);
    broker = await startMosquitto({
      caPem: ca.certPem,
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      bridgeUser: BRIDGE_CN,
    });
    bridge = await connect(bridgeCert, BRIDGE_CLIENT_ID);
    bridge.on("close", () => bridgeCloses++);
    bridge.on("message", (topic, payload) => toBridge.push({ topic, size: payload.length }));
    // The bridge's own subscriptions: a shared one (as scaled-out bridges use) and a plain one.
    const granted = await bridge.subscribeAsync([bridgeSubscription(SHARE_GROUP)], { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await broker?.stop();
  });

  it("delivers a device's reading on its own topic to the bridge, the bridge connected under its CN", async () => {
    const c = await connect(b, "device-b");
    await c.publishAsync(readings(b.name), Buffer.alloc(200), { qos: 1 });
    await expect.poll(() => toBridge.map((m) => m.topic)).toContain(readings(b.name));
    expect(bridge.connected).toBe(true);
  });

  it("makes a device's $share subscription and its subscription to another device's readings ineffective", async () => {
    const spy = await connect(a, "device-a");
    const seen: string[] = [];
    spy.on("message", (topic) => seen.push(topic));
    // Mosquitto 2.0.11's acl_file does not check SUBSCRIBE (SUBACK grants them); the read ACL is
    // checked on each delivery instead, so none of these brings the device another's reading.
    await spy.subscribeAsync(
      ["$share/x/so/v1/devices/+/readings", readings(b.name), "so/v1/devices/+/readings", "#"],
      { qos: 1 },
    );
    const owner = await connect(b, "device-b-2");
    await owner.publishAsync(readings(b.name), Buffer.alloc(18), { qos: 1 });
    await expect.poll(() => toBridge.filter((m) => m.size === 18).length).toBe(1);
    await settle();
    expect(seen).toEqual([]);
    await spy.endAsync(true);
  });

  // Mosquitto 2.0.11's acl_file does not check SUBSCRIBE: a device that joined the bridges' share
  // group would get its turn of the group's messages, which the read ACL then withholds from it
  // (measured with the default group name: 5 of 10 readings reached no bridge). The bridges' group
  // name is a secret of the fleet (mqtt.shareGroup): a device can only join groups of its own.
  it("keeps every reading for the bridges when a device joins the default or a guessed share group", async () => {
    const thief = await connect(a, "device-a-thief");
    await thief.subscribeAsync([BRIDGE_SUBSCRIPTION, "$share/bridges/so/v1/devices/+/readings"], { qos: 1 });
    const owner = await connect(b, "device-b-3");
    const before = toBridge.length;
    for (let i = 0; i < 6; i++) await owner.publishAsync(readings(b.name), Buffer.alloc(40 + i), { qos: 1 });
    await settle();
    await thief.endAsync(true);
    expect(toBridge.length - before).toBe(6);
  });

  it("refuses a device's publish on another device's topic", async () => {
    const c = await connect(a, "device-a-forger");
    const before = toBridge.length;
    await expect(c.publishAsync(readings(b.name), Buffer.alloc(321), { qos: 1 })).rejects.toThrow(
      /Not authorized/,
    );
    await c.publishAsync(readings(a.name), Buffer.alloc(123), { qos: 1 });
    await expect.poll(() => toBridge.slice(before).map((m) => m.size)).toContain(123);
    await settle();
    expect(toBridge.slice(before).map((m) => m.size)).toEqual([123]);
  });

  it("gives a device that asks for the bridge's client id its own CN instead: the bridge stays connected", async () => {
    const impostor = await connect(a, BRIDGE_CLIENT_ID);
    const alsoCn = await connect(b, BRIDGE_CN);
    await settle();
    expect(impostor.connected && alsoCn.connected).toBe(true);
    expect(bridge.connected).toBe(true);
    expect(bridgeCloses).toBe(0);
    const before = toBridge.length;
    await impostor.publishAsync(readings(a.name), Buffer.alloc(77), { qos: 1 });
    await expect.poll(() => toBridge.slice(before).map((m) => m.size)).toEqual([77]);
    expect(bridgeCloses).toBe(0);
  });

  it("drops a message above the size limit and forwards one within it", async () => {
    const before = toBridge.length;
    // MQTT 3.1.1: the QoS 1 flow completes and the message is dropped. (An MQTT 5 client gets a
    // PUBACK with an error reason code instead.)
    const v4 = await mqtt.connectAsync(broker.url, {
      ca: ca.certPem,
      cert: a.certPem,
      key: a.keyPem,
      clientId: "device-a-big",
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(v4);
    await v4.publishAsync(readings(a.name), Buffer.alloc(MESSAGE_SIZE_LIMIT + 1), { qos: 1 });
    await v4.publishAsync(readings(a.name), Buffer.alloc(MESSAGE_SIZE_LIMIT), { qos: 1 });
    await expect.poll(() => toBridge.slice(before).map((m) => m.size)).toContain(MESSAGE_SIZE_LIMIT);
    await settle();
    expect(toBridge.slice(before).map((m) => m.size)).toEqual([MESSAGE_SIZE_LIMIT]);
    expect(bridge.connected).toBe(true);
    expect(bridgeCloses).toBe(0);
  });

  it("lets devices connect and publish while 3,000 idle TCP connections (no TLS handshake) are open", async () => {
    const port = Number(new URL(broker.url).port);
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 3_000; i++) {
        const s = netConnect(port, "127.0.0.1");
        s.on("error", () => {});
        idle.push(s);
      }
      await Promise.all(idle.map((s) => new Promise((r) => (s.connecting ? s.once("connect", r) : r(null)))));
      const before = toBridge.length;
      const fleet = await Promise.all(
        [a, b].map((d, i) => connect(d, `device-${i}-during-idle`).then((c) => ({ c, d }))),
      );
      for (const { c, d } of fleet) await c.publishAsync(readings(d.name), Buffer.alloc(31), { qos: 1 });
      await expect.poll(() => toBridge.slice(before).filter((m) => m.size === 31).length).toBe(2);
      expect(bridge.connected).toBe(true);
    } finally {
      for (const s of idle) s.destroy();
    }
  });
});
