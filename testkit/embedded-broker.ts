import { createServer, type Server, type TLSSocket } from "node:tls";
import { Aedes } from "aedes";
import { acksTopic, isDeviceName, readingsTopic } from "../protocol/index.js";

export type EmbeddedBrokerParameters = {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** CN of the bridge's client certificate. */
  bridgeUser: string;
  port?: number;
};

export type EmbeddedBroker = { port: number; url: string; close(): Promise<void> };

type Client = { id: string; conn: unknown; user?: string };

/**
 * An mTLS MQTT 3.1.1 broker in the process (aedes), for the demo: the TLS layer requires a client
 * certificate from the fleet CA; the client's identity is its certificate CN (as Mosquitto's
 * use_identity_as_username); a device may publish only its own readings topic and subscribe only
 * its own acks topic; the bridge reads all readings and writes acks.
 */
export async function startEmbeddedBroker(p: EmbeddedBrokerParameters): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({
    authenticate: (client, _username, _password, done) => {
      const socket = (client as unknown as Client).conn as TLSSocket;
      const cn = socket.getPeerCertificate?.()?.subject?.CN;
      const user = Array.isArray(cn) ? undefined : cn;
      if (!user || !socket.authorized) {
        const err = Object.assign(new Error("client certificate required"), { returnCode: 5 });
        return done(err as never, false);
      }
      (client as unknown as Client).user = user;
      done(null, true);
    },
    authorizePublish: (client, packet, done) => {
      const user = (client as unknown as Client | null)?.user;
      const topic = packet.topic;
      const ok =
        user === p.bridgeUser
          ? /^so\/v1\/devices\/[0-9a-f]{64}\/acks$/.test(topic)
          : !!user && isDeviceName(user) && topic === readingsTopic(user);
      done(ok ? null : new Error(`publish to ${topic} not authorized`));
    },
    authorizeSubscribe: (client, sub, done) => {
      const user = (client as unknown as Client | null)?.user;
      const ok =
        user === p.bridgeUser
          ? sub.topic === "so/v1/devices/+/readings"
          : !!user && isDeviceName(user) && sub.topic === acksTopic(user);
      done(ok ? null : new Error(`subscribe to ${sub.topic} not authorized`), ok ? sub : null);
    },
  });
  const server: Server = createServer(
    {
      key: p.keyPem,
      cert: p.certPem,
      ca: p.caPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    },
    aedes.handle as never,
  );
  await new Promise<void>((resolve) => server.listen(p.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
