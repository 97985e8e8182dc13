import type { FastifyPluginAsync } from "fastify";
import type { Hex } from "viem";
import type { ReadingStore } from "../store/types.js";
import { oneParamRoute, str } from "./schemas.js";

const batchSchema = {
  type: "object",
  required: ["root", "ids", "txHash", "blockNumber", "gasUsed", "committedAt"],
  properties: {
    root: str,
    ids: { type: "array", items: str },
    txHash: str,
    blockNumber: str,
    gasUsed: str,
    committedAt: { type: "integer", description: "ms since the epoch" },
  },
} as const;

/** /batches/:root: a committed batch. A malformed root is a batch not found, as before. */
export const batchRoutes: FastifyPluginAsync<{ store: ReadingStore }> = async (app, { store }) => {
  app.get<{ Params: { root: Hex } }>(
    "/batches/:root",
    oneParamRoute({
      summary: "A committed batch: its reading ids and transaction.",
      param: { name: "root", pattern: "^0x[0-9a-f]{64}$" },
      ok: { description: "the batch", schema: batchSchema },
      notFound: "no such batch (or not a batch root)",
      invalid: { status: 404, error: "BatchNotFound", message: (params) => `no batch ${params.root}` },
    }),
    async (req, reply) => {
      const root = req.params.root;
      const batch = await store.getBatch(root);
      if (!batch) return reply.code(404).send({ error: "BatchNotFound", message: `no batch ${root}` });
      return batch;
    },
  );
};
