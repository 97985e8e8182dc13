import type { FastifyPluginAsync, FastifyReply } from "fastify";
import type { Hex } from "viem";
import { ArchiveCursorInvalidError, ArchiveUnavailableError } from "../archive/errors.js";
import { type Archive, MAX_PAGE_LIMIT, type ReadingPage, type ReadingPageQuery } from "../archive/types.js";
import { errorSchema, str } from "./schemas.js";

/** What the paged lookups read: the archive's pages. */
export type ReadingPages = Pick<Archive, "readingsOfDevice" | "readingsOfFeed">;

const DEFAULT_PAGE_LIMIT = 100;

const pageSchema = {
  type: "object",
  required: ["readings", "next"],
  properties: {
    readings: {
      type: "array",
      items: {
        type: "object",
        required: ["id", "reading", "signature", "curve", "root"],
        properties: {
          id: { type: "string", description: "<device name>:<sequence>; its proof: GET /readings/:id" },
          reading: {
            type: "object",
            required: ["deviceId", "feedId", "value", "timestamp", "sequence"],
            properties: { deviceId: str, feedId: str, value: str, timestamp: str, sequence: str },
          },
          signature: str,
          curve: { type: "string", enum: ["p256", "secp256k1"] },
          root: { type: "string", description: "the batch the reading was committed in" },
        },
      },
    },
    next: { type: ["string", "null"], description: "the cursor of the next page; null on the last" },
  },
} as const;

const querySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    from: { type: "integer", minimum: 0, description: "signed time, seconds, inclusive" },
    to: { type: "integer", minimum: 0, description: "signed time, seconds, inclusive" },
    limit: {
      type: "integer",
      minimum: 1,
      description: `readings per page (default ${DEFAULT_PAGE_LIMIT}, at most ${MAX_PAGE_LIMIT}: larger is capped)`,
    },
    cursor: { type: "string", pattern: "^[A-Za-z0-9_-]{1,200}$", description: "`next` of the previous page" },
  },
} as const;

type Query = { from?: number; to?: number; limit?: number; cursor?: string };

function routeOptions(summary: string, param: { name: string; pattern: string }) {
  return {
    schema: {
      summary,
      params: {
        type: "object",
        required: [param.name],
        properties: { [param.name]: { type: "string", pattern: param.pattern } },
      },
      querystring: querySchema,
      response: {
        200: { description: "a page of readings, oldest signed time first", ...pageSchema },
        400: { description: "a bad parameter or cursor", ...errorSchema },
        503: { description: "no archive, or the archive is unreachable for now", ...errorSchema },
      },
    },
    config: { invalid: { error: "BadQuery", message: "bad path, from, to, limit or cursor" } },
  };
}

/**
 * GET /devices/:name/readings and GET /feeds/:feedId/readings: committed readings by signed time
 * (from, to), oldest first, `limit` a page (capped at MAX_PAGE_LIMIT) with a stable cursor. They
 * read the archive, so a reading appears once its batch is final and archived (seconds after
 * its commit); /readings/:id serves it with its proof before and after.
 */
export const readingPageRoutes: FastifyPluginAsync<{ pages?: ReadingPages | undefined }> = async (
  app,
  { pages },
) => {
  const answer = async (
    reply: FastifyReply,
    q: Query,
    get: (q: ReadingPageQuery) => Promise<ReadingPage>,
  ) => {
    if (!pages)
      return reply
        .code(503)
        .send({ error: "NoArchive", message: "this bridge keeps no archive: paged lookups need one" });
    try {
      const page = await get({
        limit: Math.min(q.limit ?? DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return {
        readings: page.readings.map((r) => ({
          id: r.id,
          reading: {
            deviceId: r.deviceId,
            feedId: r.feedId,
            value: r.value,
            timestamp: r.timestamp,
            sequence: r.sequence,
          },
          signature: r.signature,
          curve: r.curve,
          root: r.root,
        })),
        next: page.next,
      };
    } catch (err) {
      if (err instanceof ArchiveCursorInvalidError)
        return reply.code(400).send({ error: "BadCursor", message: err.shortMessage });
      if (err instanceof ArchiveUnavailableError)
        return reply
          .code(503)
          .header("retry-after", "5")
          .send({ error: "ArchiveUnavailable", message: "the archive is unreachable, retry later" });
      throw err;
    }
  };

  app.get<{ Params: { name: string }; Querystring: Query }>(
    "/devices/:name/readings",
    routeOptions("A device's committed readings by signed time, paged.", {
      name: "name",
      pattern: "^[0-9a-f]{64}$",
    }),
    (req, reply) =>
      answer(reply, req.query, (q) => (pages as ReadingPages).readingsOfDevice(req.params.name, q)),
  );
  app.get<{ Params: { feedId: string }; Querystring: Query }>(
    "/feeds/:feedId/readings",
    routeOptions("A feed's committed readings by signed time, paged.", {
      name: "feedId",
      pattern: "^0[xX][0-9a-fA-F]{64}$",
    }),
    (req, reply) =>
      answer(reply, req.query, (q) =>
        (pages as ReadingPages).readingsOfFeed(req.params.feedId.toLowerCase() as Hex, q),
      ),
  );
};
