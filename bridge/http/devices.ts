import type { FastifyPluginAsync } from "fastify";
import type { DeviceInfo } from "../device-view.js";
import { type ReadingStore, readingId } from "../store/types.js";
import { oneParamRoute, str } from "./schemas.js";

const deviceSchema = {
  type: "object",
  required: ["name", "deviceId", "certificate", "registry", "lastSequence", "lastReading"],
  properties: {
    name: str,
    deviceId: str,
    certificate: {
      type: ["object", "null"],
      required: ["curve", "fingerprint", "notBefore", "notAfter"],
      properties: { curve: str, fingerprint: str, notBefore: str, notAfter: str },
    },
    registry: {
      type: ["object", "null"],
      required: ["curve", "status", "validFrom", "revokedAt", "certFingerprint"],
      properties: {
        curve: str,
        status: { type: "string", enum: ["active", "revoked"] },
        validFrom: { type: "integer" },
        revokedAt: { type: "integer" },
        certFingerprint: str,
      },
    },
    lastSequence: { type: ["string", "null"], description: "the highest accepted sequence" },
    lastReading: {
      type: ["object", "null"],
      description: "the reading with the highest accepted sequence, with its signed time",
      required: ["sequence", "timestamp"],
      properties: { sequence: str, timestamp: str },
    },
  },
} as const;

/** /devices/:name: what the bridge knows of a device and the last reading it saw. */
export const deviceRoutes: FastifyPluginAsync<{
  store: ReadingStore;
  device?: ((name: string) => Promise<DeviceInfo | null>) | undefined;
}> = async (app, { store, device }) => {
  app.get<{ Params: { name: string } }>(
    "/devices/:name",
    oneParamRoute({
      summary:
        "A device: its certificate, its registry record, its highest accepted sequence and the last reading seen (sequence and signed timestamp).",
      param: { name: "name", pattern: "^[0-9a-f]{64}$" },
      ok: { description: "the device", schema: deviceSchema },
      badRequest: "not a device name",
      notFound: "no such device",
      invalid: { error: "BadDeviceName", message: "expected 64 lowercase hex digits" },
    }),
    async (req, reply) => {
      const name = req.params.name;
      const info = device ? await device(name) : null;
      if (!info) return reply.code(404).send({ error: "DeviceNotFound", message: `no device ${name}` });
      const last = await store.lastSequence(name);
      // The last reading seen: the one with the highest accepted sequence, with its signed time.
      const [stored] = last === null ? [] : await store.getReadings([readingId(name, last)]);
      return {
        ...info,
        lastSequence: last === null ? null : last.toString(),
        lastReading: stored ? { sequence: stored.sequence, timestamp: stored.timestamp } : null,
      };
    },
  );
};
