import { createServer, type Server, TLSSocket } from "node:tls";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { ALL_READINGS, acksTopic, isDeviceName, readingsTopic } from "../protocol/index.js";

export type EmbeddedBrokerParameters = {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** CN of the bridge's client certificate. */
  bridgeUser: string;
  port?: number;
};

export type EmbeddedBroker = { port: number; url: string; close(): Promise<void> };

/** A device's acks topic (the bridge writes to these only). */
function isAcksTopic(topic: string): boolean {
  const device = topic.split("/").at(-2) ?? "";
  return isDeviceName(device) && topic === acksTopic(device);
}

/**
 * An mTLS MQTT 3.1.1 broker in the process (aedes), for the demo: the TLS layer requires a client
 * certificate from the fleet CA; the client's identity is its certificate CN (as Mosquitto's
 * use_identity_as_username); a device may publish only its own readings topic and subscribe only
 * its own acks topic; the bridge reads all readings and writes acks.
 */
export async function startEmbeddedBroker(p: EmbeddedBrokerParameters): Promise<EmbeddedBroker> {
  // Each connected client's identity: the CN of its certificate.
  const users = new WeakMap<Client, string>();
  const aedes = await Aedes.createBroker({
    authenticate: (client, _username, _password, done) => {
      const socket = client.conn;
      const cn = socket instanceof TLSSocket ? socket.getPeerCertificate?.()?.subject?.CN : undefined;
      const user = Array.isArray(cn) ? undefined : cn;
      if (!user || !(socket instanceof TLSSocket) || !socket.authorized) {
        const err: AuthenticateError = Object.assign(new Error("client certificate required"), {
          returnCode: 5 as const,
        });
        return done(err, false);
      }
      users.set(client, user);
      done(null, true);
    },
    authorizePublish: (client, packet, done) => {
      const user = client ? users.get(client) : undefined;
      const topic = packet.topic;
      const ok =
        user === p.bridgeUser
          ? isAcksTopic(topic)
          : !!user && isDeviceName(user) && topic === readingsTopic(user);
      done(ok ? null : new Error(`publish to ${topic} not authorized`));
    },
    authorizeSubscribe: (client, sub, done) => {
      const user = client ? users.get(client) : undefined;
      const ok =
        user === p.bridgeUser
          ? sub.topic === ALL_READINGS
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
    (socket) => aedes.handle(socket),
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
