import type { FastifyPluginAsync } from "fastify";
import type { ReadingView } from "./reading-view.js";
import { oneParamRoute, readingSchema } from "./schemas.js";

/** /readings/:id: a reading with its batch and Merkle proof. */
export const readingRoutes: FastifyPluginAsync<{ view: ReadingView }> = async (app, { view }) => {
  app.get<{ Params: { id: string } }>(
    "/readings/:id",
    oneParamRoute({
      summary: "A reading with its batch and Merkle proof: the arguments of verifyReading.",
      param: { name: "id", pattern: "^[0-9a-f]{64}:[0-9]{1,20}$", description: "<device name>:<sequence>" },
      ok: { description: "the reading", schema: readingSchema },
      badRequest: "not a reading id",
      notFound: "no such reading",
      invalid: { error: "BadReadingId", message: "expected <device name>:<sequence>" },
    }),
    async (req, reply) => {
      const id = req.params.id;
      const r = await view(id);
      return r ?? reply.code(404).send({ error: "ReadingNotFound", message: `no reading ${id}` });
    },
  );
};
