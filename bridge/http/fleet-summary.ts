import type { FastifyPluginAsync } from "fastify";
import type { Hex } from "viem";
import type { DeviceInfo } from "../device-view.js";
import { type ReadingValidity, readingOutcome } from "../reading-validity.js";
import { type ReadingStore, readingId, type StoredReading } from "../store/types.js";
import type { FleetActivity } from "./fleet-activity.js";
import { str } from "./schemas.js";

export type FleetSummaryParameters = {
  activity: FleetActivity;
  store: ReadingStore;
  /** The registry check of /feeds/:feedId/latest: a reading that no longer verifies is not a feed's latest. */
  validity?: ReadingValidity | undefined;
  /** What the bridge knows of a device (certificate and registry record). */
  device?: ((name: string) => Promise<DeviceInfo | null>) | undefined;
  /** The names of the enrolled devices, listed even before they send anything. */
  enrolled?: (() => Iterable<string>) | undefined;
  /** Devices listed at most (most recently seen first; default 200). */
  maxDevices?: number;
  /** Feeds listed at most (most recently fed first; default 24). */
  maxFeeds?: number;
  /**
   * How long a device's registry record and certificate, as listed, are reused (default 30 s): a
   * page polling every 3 s over 200 devices would otherwise read the registry about 80 times a
   * second (two RPC calls per record, re-read after the cache's 5 s).
   */
  deviceInfoTtlMs?: number;
};

/** A device's standing: its registry record's status, or why it has none. */
export type DeviceStatus = "active" | "revoked" | "unregistered" | "unknown";

const int = { type: "integer" } as const;
const nullableInt = { type: ["integer", "null"] } as const;

const lastReadingSchema = {
  type: ["object", "null"],
  description: "the reading with the device's highest accepted sequence (from the store)",
  required: ["id", "feedId", "value", "timestamp", "sequence", "receivedAt"],
  properties: {
    id: str,
    feedId: str,
    value: { type: "string", description: "int256, decimal" },
    timestamp: { type: "string", description: "signed time, seconds since the epoch" },
    sequence: str,
    receivedAt: { type: "integer", description: "when the bridge took it, ms since the epoch" },
  },
} as const;

export const fleetSummarySchema = {
  type: "object",
  required: ["generatedAt", "activitySince", "devicesTotal", "devices", "feeds", "batches"],
  properties: {
    generatedAt: { type: "integer", description: "ms since the epoch" },
    activitySince: {
      type: "integer",
      description:
        "when this bridge started counting (ms since the epoch): counts, charts and batches are since then",
    },
    devicesTotal: {
      type: "integer",
      description: "devices known (enrolled or seen); at most 200 are listed",
    },
    devices: {
      type: "array",
      items: {
        type: "object",
        required: [
          "name",
          "status",
          "curve",
          "certificateNotAfter",
          "lastReading",
          "accepted",
          "rejected",
          "rejections",
          "lastRejection",
          "lastSeenAt",
        ],
        properties: {
          name: str,
          status: {
            type: "string",
            enum: ["active", "revoked", "unregistered", "unknown"],
            description: "the registry record's status (read at most 30 s before), unregistered without one",
          },
          curve: { type: ["string", "null"] },
          certificateNotAfter: { type: ["string", "null"] },
          lastReading: lastReadingSchema,
          accepted: { ...int, description: "readings this bridge accepted from it" },
          rejected: { ...int, description: "readings this bridge refused (rate limiting apart)" },
          rejections: {
            type: "object",
            additionalProperties: int,
            description: "refusals by reason (a replay is a delivery and not counted, nor a store outage)",
          },
          lastRejection: {
            type: ["object", "null"],
            required: ["reason", "at"],
            properties: { reason: str, at: int },
          },
          lastSeenAt: { ...nullableInt, description: "when this bridge last heard from it (ms)" },
        },
      },
    },
    feeds: {
      type: "array",
      items: {
        type: "object",
        required: ["feedId", "latestCommitted", "recent"],
        properties: {
          feedId: str,
          latestCommitted: {
            type: ["object", "null"],
            description: "what /feeds/:feedId/latest serves",
            required: ["id", "value", "timestamp", "root"],
            properties: { id: str, value: str, timestamp: str, root: str },
          },
          recent: {
            type: "array",
            description: "the last readings this bridge accepted for the feed, oldest first",
            items: {
              type: "object",
              required: ["value", "timestamp", "receivedAt"],
              properties: { value: str, timestamp: str, receivedAt: int },
            },
          },
        },
      },
    },
    batches: {
      type: "array",
      description: "the last batches this bridge committed, newest first",
      items: {
        type: "object",
        required: ["root", "txHash", "blockNumber", "gasUsed", "committedAt", "readings", "leftOut"],
        properties: {
          root: str,
          txHash: str,
          blockNumber: str,
          gasUsed: str,
          committedAt: int,
          readings: int,
          leftOut: { ...int, description: "readings of the cut left out: they no longer verified" },
        },
      },
    },
  },
} as const;

/**
 * GET /fleet/summary: what the fleet page shows in one answer. Devices (enrolled or seen), each
 * with its registry status, its last reading from the store, and what this bridge accepted and
 * refused from it; feeds with their latest committed reading and last accepted values; the last
 * committed batches with their transactions.
 */
export const fleetSummaryRoutes: FastifyPluginAsync<FleetSummaryParameters> = async (app, p) => {
  const maxDevices = p.maxDevices ?? 200;
  const maxFeeds = p.maxFeeds ?? 24;
  const infoTtlMs = p.deviceInfoTtlMs ?? 30_000;
  const infoCache = new Map<string, { at: number; info: Promise<DeviceInfo | null> }>();

  function deviceInfo(name: string): Promise<DeviceInfo | null> {
    if (!p.device) return Promise.resolve(null);
    const now = Date.now();
    const hit = infoCache.get(name);
    if (hit && now - hit.at < infoTtlMs) return hit.info;
    const info = p.device(name).catch(() => null);
    if (infoCache.size >= 2 * maxDevices) infoCache.clear();
    infoCache.set(name, { at: now, info });
    return info;
  }

  async function listDevices() {
    const seen = p.activity.devices();
    const names = new Set(seen.map((d) => d.name));
    const silent = [...(p.enrolled?.() ?? [])].filter((n) => !names.has(n)).sort();
    const listed = [...seen.map((d) => d.name), ...silent].slice(0, maxDevices);
    const activity = new Map(seen.map((d) => [d.name, d]));
    const lastIds = await Promise.all(
      listed.map(async (name) => {
        const seq = await p.store.lastSequence(name);
        return seq === null ? null : readingId(name, seq);
      }),
    );
    const wanted = lastIds.filter((id): id is string => id !== null);
    const stored = new Map(
      (await p.store.getReadings(wanted)).filter((r): r is StoredReading => r !== null).map((r) => [r.id, r]),
    );
    const infos = await Promise.all(listed.map(deviceInfo));
    const devices = listed.map((name, i) => {
      const a = activity.get(name);
      const id = lastIds[i];
      const last = id ? stored.get(id) : undefined;
      const info = infos[i];
      const status: DeviceStatus = !p.device
        ? "unknown"
        : info?.registry
          ? info.registry.status
          : "unregistered";
      return {
        name,
        status,
        curve: info?.registry?.curve ?? info?.certificate?.curve ?? null,
        certificateNotAfter: info?.certificate?.notAfter ?? null,
        lastReading: last
          ? {
              id: last.id,
              feedId: last.feedId,
              value: last.value,
              timestamp: last.timestamp,
              sequence: last.sequence,
              receivedAt: last.receivedAt,
            }
          : null,
        accepted: a?.accepted ?? 0,
        rejected: Object.values(a?.rejections ?? {}).reduce((s, n) => s + n, 0),
        rejections: a?.rejections ?? {},
        lastRejection: a?.lastRejection ?? null,
        lastSeenAt: a?.lastSeenAt ?? null,
      };
    });
    return { devicesTotal: names.size + silent.length, devices };
  }

  /**
   * A feed's latest committed reading as /feeds/:feedId/latest serves it (committed and still
   * verifying against the registry), without its proof: no Merkle tree is built for the page.
   */
  async function latestCommitted(feedId: Hex) {
    const id = await p.store.latestOfFeed(feedId);
    const [stored] = id ? await p.store.getReadings([id]) : [];
    if (!stored) return null;
    const root = await p.store.rootOf(stored.id);
    const batch = root ? await p.store.getBatch(root) : null;
    if (!root || !batch) return null;
    if (p.validity && (await readingOutcome(p.validity, stored, batch))) return null;
    return { id: stored.id, value: stored.value, timestamp: stored.timestamp, root };
  }

  async function listFeeds() {
    return Promise.all(
      p.activity
        .feeds()
        .slice(0, maxFeeds)
        .map(async ({ feedId, points }) => ({
          feedId,
          latestCommitted: await latestCommitted(feedId),
          // No ids: the chart needs none, and they would be most of the answer's size.
          recent: points.map(({ value, timestamp, receivedAt }) => ({ value, timestamp, receivedAt })),
        })),
    );
  }

  app.get(
    "/fleet/summary",
    {
      schema: {
        summary:
          "The fleet page's data: devices (status, last reading, refusals), feeds (latest committed, recent values), the last committed batches.",
        response: { 200: { description: "the fleet as this bridge sees it", ...fleetSummarySchema } },
      },
    },
    async () => {
      const [devices, feeds] = await Promise.all([listDevices(), listFeeds()]);
      return {
        generatedAt: Date.now(),
        activitySince: p.activity.startedAt,
        ...devices,
        feeds,
        batches: p.activity.batches(),
      };
    },
  );
};
