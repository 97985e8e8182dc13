import Fastify, { type FastifyInstance } from "fastify";
import type { Hex } from "viem";
import { buildReadingTree, type ReadingTree, readingProof } from "../protocol/index.js";
import { toReading } from "./ingest.js";
import type { Metrics } from "./metrics.js";
import type { ReadingStore, StoredReading } from "./store/types.js";

export type AppParameters = { store: ReadingStore; metrics: Metrics; logger?: boolean };

/**
 * The bridge's HTTP API, built without a port so tests call it with app.inject:
 * GET /healthz, GET /metrics, GET /readings/:id (the reading, its on-chain signature, its batch
 * and Merkle proof: what a consumer passes to verifyReading), GET /batches/:root.
 */
export function buildApp({ store, metrics, logger = false }: AppParameters): FastifyInstance {
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

  app.get<{ Params: { id: string } }>("/readings/:id", async (req, reply) => {
    const id = req.params.id;
    if (!/^[0-9a-f]{64}:[0-9]{1,20}$/.test(id)) {
      return reply.code(400).send({ error: "BadReadingId", message: "expected <device name>:<sequence>" });
    }
    const [stored] = await store.getReadings([id]);
    if (!stored) return reply.code(404).send({ error: "ReadingNotFound", message: `no reading ${id}` });
    const reading = {
      deviceId: stored.deviceId,
      feedId: stored.feedId,
      value: stored.value,
      timestamp: stored.timestamp,
      sequence: stored.sequence,
    };
    const root = await store.rootOf(id);
    if (!root) return { id, status: "queued", reading, signature: stored.signature, curve: stored.curve };
    const batch = await store.getBatch(root);
    if (!batch) return reply.code(500).send({ error: "BatchMissing", message: `batch ${root} not found` });
    const tree = await treeOf(root, batch.ids);
    const proof = readingProof(tree, batch.ids.indexOf(id));
    return {
      id,
      status: "committed",
      reading,
      signature: stored.signature,
      curve: stored.curve,
      batch: { root, txHash: batch.txHash, blockNumber: batch.blockNumber },
      proof,
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
