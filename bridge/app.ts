import Fastify, { type FastifyInstance } from "fastify";
import type { Hex } from "viem";
import { buildReadingTree, type ReadingTree, readingProof } from "../protocol/index.js";
import { toReading } from "./ingest.js";
import type { Metrics } from "./metrics.js";
import { OPENAPI } from "./openapi.js";
import type { ReadingStore, StoredReading } from "./store/types.js";

export type ReadyCheck = { ok: boolean; checks: Record<string, boolean> };

export type AppParameters = {
  store: ReadingStore;
  metrics: Metrics;
  logger?: boolean;
  /** Whether the bridge can work: MQTT connected, Redis and the chain reachable. */
  ready?: () => Promise<ReadyCheck>;
  /** What the bridge knows of a device (certificate and registry record), or null. */
  device?: (name: string) => Promise<Record<string, unknown> | null>;
};

/**
 * The bridge's HTTP API, built without a port so tests call it with app.inject:
 * /healthz, /readyz, /metrics, /readings/:id (the reading, its on-chain signature, its batch and
 * Merkle proof: what a consumer passes to verifyReading), /feeds/:feedId/latest, /devices/:name,
 * /batches/:root, /openapi.json (bridge/openapi.ts).
 */
export function buildApp({ store, metrics, logger = false, ready, device }: AppParameters): FastifyInstance {
  const app = Fastify({ logger });
  const trees = new Map<Hex, ReadingTree>();

  async function treeOf(root: Hex, ids: string[]): Promise<ReadingTree> {
    let tree = trees.get(root);
    if (!tree) {
      const readings = (await store.getReadings(ids)) as StoredReading[];
      tree = buildReadingTree(readings.map(toReading));
      if (trees.size >= 64) trees.delete(trees.keys().next().value as Hex);
      trees.set(root, tree);
    }
    return tree;
  }

  app.get("/healthz", async () => ({ ok: true }));

  app.get("/metrics", async (_req, reply) => {
    reply.type("text/plain; version=0.0.4");
    return metrics.render(await store.queueDepth());
  });

  async function readingResponse(id: string) {
    const [stored] = await store.getReadings([id]);
    if (!stored) return null;
    const reading = {
      deviceId: stored.deviceId,
      feedId: stored.feedId,
      value: stored.value,
      timestamp: stored.timestamp,
      sequence: stored.sequence,
    };
    const base = { id, reading, signature: stored.signature, curve: stored.curve };
    const root = await store.rootOf(id);
    if (!root) return { ...base, status: "queued" as const };
    const batch = await store.getBatch(root);
    if (!batch) throw new Error(`batch ${root} of reading ${id} is missing`);
    const tree = await treeOf(root, batch.ids);
    return {
      ...base,
      status: "committed" as const,
      batch: { root, txHash: batch.txHash, blockNumber: batch.blockNumber },
      proof: readingProof(tree, batch.ids.indexOf(id)),
    };
  }

  app.get("/readyz", async (_req, reply) => {
    const r = ready ? await ready() : { ok: true, checks: {} };
    return reply.code(r.ok ? 200 : 503).send(r);
  });

  app.get("/openapi.json", async () => OPENAPI);

  app.get<{ Params: { id: string } }>("/readings/:id", async (req, reply) => {
    const id = req.params.id;
    if (!/^[0-9a-f]{64}:[0-9]{1,20}$/.test(id)) {
      return reply.code(400).send({ error: "BadReadingId", message: "expected <device name>:<sequence>" });
    }
    const r = await readingResponse(id);
    return r ?? reply.code(404).send({ error: "ReadingNotFound", message: `no reading ${id}` });
  });

  app.get<{ Params: { feedId: string } }>("/feeds/:feedId/latest", async (req, reply) => {
    const feedId = req.params.feedId.toLowerCase();
    if (!/^0x[0-9a-f]{64}$/.test(feedId)) {
      return reply.code(400).send({ error: "BadFeedId", message: "expected 0x and 64 hex digits" });
    }
    const id = await store.latestOfFeed(feedId as Hex);
    const r = id ? await readingResponse(id) : null;
    return (
      r ?? reply.code(404).send({ error: "FeedNotFound", message: `no committed reading for feed ${feedId}` })
    );
  });

  app.get<{ Params: { name: string } }>("/devices/:name", async (req, reply) => {
    const name = req.params.name;
    if (!/^[0-9a-f]{64}$/.test(name)) {
      return reply.code(400).send({ error: "BadDeviceName", message: "expected 64 lowercase hex digits" });
    }
    const info = device ? await device(name) : null;
    if (!info) return reply.code(404).send({ error: "DeviceNotFound", message: `no device ${name}` });
    const last = await store.lastSequence(name);
    // The last reading seen: the one with the highest accepted sequence, with its signed time.
    const [stored] = last === null ? [] : await store.getReadings([`${name}:${last}`]);
    return {
      ...info,
      lastSequence: last === null ? null : last.toString(),
      lastReading: stored ? { sequence: stored.sequence, timestamp: stored.timestamp } : null,
    };
  });

  app.get<{ Params: { root: string } }>("/batches/:root", async (req, reply) => {
    const root = req.params.root as Hex;
    const batch = /^0x[0-9a-f]{64}$/.test(root) ? await store.getBatch(root) : null;
    if (!batch) return reply.code(404).send({ error: "BatchNotFound", message: `no batch ${root}` });
    return batch;
  });

  return app;
}
