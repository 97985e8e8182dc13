import type { FastifyPluginAsync } from "fastify";
import type { Hex } from "viem";
import type { ReadingStore } from "../store/types.js";
import type { ReadingView } from "./reading-view.js";
import { errorSchema, readingSchema } from "./schemas.js";

/** /feeds/:feedId/latest: a feed's latest committed reading with its proof. */
export const feedRoutes: FastifyPluginAsync<{ store: ReadingStore; view: ReadingView }> = async (
  app,
  { store, view },
) => {
  app.get<{ Params: { feedId: string } }>(
    "/feeds/:feedId/latest",
    {
      schema: {
        summary:
          "The latest committed reading of a feed, with its proof (what a pull consumer needs in one call).",
        params: {
          type: "object",
          required: ["feedId"],
          properties: { feedId: { type: "string", pattern: "^0[xX][0-9a-fA-F]{64}$" } },
        },
        response: {
          200: { description: "the reading", ...readingSchema },
          400: { description: "not a feed id", ...errorSchema },
          404: { description: "no committed reading", ...errorSchema },
        },
      },
      config: { invalid: { error: "BadFeedId", message: "expected 0x and 64 hex digits" } },
    },
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
