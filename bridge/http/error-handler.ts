import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ArchiveUnavailableError } from "../archive/errors.js";
import { answerInvalid } from "./schemas.js";

/**
 * Thrown when too many Merkle trees wait to be rebuilt for proofs (a client sweeping old batches):
 * answered 503 with Retry-After instead of queueing work without bound on the event loop.
 */
export class ProofBuildersBusyError extends Error {
  override name = "ProofBuildersBusyError" as const;
  readonly statusCode = 503;
}

/**
 * Every error a route raises, answered without echoing what caused it: schema failures with the
 * route's named error (schemas.ts), too many requests with 429 and Retry-After (@fastify/rate-limit),
 * busy proof builders with 503, and anything else with a bare 500 (the cause, which may hold an RPC
 * URL or a stack, goes to the redacted log only).
 */
export function answerError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err.validation) return answerInvalid(err, req, reply);
  if (err.statusCode === 429) {
    return reply.code(429).send({ error: "TooManyRequests", message: "rate limit exceeded, retry later" });
  }
  if (err instanceof ProofBuildersBusyError) {
    return reply
      .code(503)
      .header("retry-after", "1")
      .send({ error: "ProofBuildersBusy", message: "too many proofs being built, retry later" });
  }
  // A reading that left Redis is served from the archive: unreachable for now, 503 (not a 500 or a 404).
  if ((err as unknown) instanceof ArchiveUnavailableError) {
    return reply
      .code(503)
      .header("retry-after", "5")
      .send({ error: "ArchiveUnavailable", message: "the archive is unreachable, retry later" });
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return reply.code(err.statusCode).send({ error: "BadRequest", message: "bad request" });
  }
  req.log.error({ err, url: req.routeOptions.url }, "request failed");
  return reply.code(500).send({ error: "InternalError", message: "internal error" });
}
