import type { FastifyPluginAsync } from "fastify";
import type { Hex } from "viem";
import type { ReadingStore } from "../store/types.js";
import type { ReadingView } from "./reading-view.js";
import { oneParamRoute, readingSchema } from "./schemas.js";

/** /feeds/:feedId/latest: a feed's latest committed reading with its proof. */
export const feedRoutes: FastifyPluginAsync<{ store: ReadingStore; view: ReadingView }> = async (
  app,
  { store, view },
) => {
  app.get<{ Params: { feedId: string } }>(
    "/feeds/:feedId/latest",
    oneParamRoute({
      summary:
        "The latest committed reading of a feed, with its proof (what a pull consumer needs in one call).",
      param: { name: "feedId", pattern: "^0[xX][0-9a-fA-F]{64}$" },
      ok: { description: "the reading", schema: readingSchema },
      badRequest: "not a feed id",
      notFound: "no committed reading",
      invalid: { error: "BadFeedId", message: "expected 0x and 64 hex digits" },
    }),
    async (req, reply) => {
      const feedId = req.params.feedId.toLowerCase() as Hex;
      const id = await store.latestOfFeed(feedId);
      const r = id ? await view(id) : null;
      return (
        r ??
        reply.code(404).send({ error: "FeedNotFound", message: `no committed reading for feed ${feedId}` })
      );
    },
  );
};
