import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from "fastify";

/** What a route answers when its params fail their schema: today's status, error name and message. */
export type InvalidRequest = {
  status?: 400 | 404;
  error: string;
  message: string | ((params: Record<string, string>) => string);
};

declare module "fastify" {
  interface FastifyContextConfig {
    /** The answer to a request whose params (or query) fail the route's schema. */
    invalid?: InvalidRequest;
  }
}

/**
 * Schema validation failures answer with the route's named error (`{ error: "BadReadingId",
 * message }`), as the hand-written checks did (error-handler.ts answers the other errors).
 */
export function answerInvalid(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const invalid = req.routeOptions.config.invalid;
  if (!invalid) return reply.code(400).send({ error: "BadRequest", message: err.message });
  const params = (req.params ?? {}) as Record<string, string>;
  const message = typeof invalid.message === "function" ? invalid.message(params) : invalid.message;
  return reply.code(invalid.status ?? 400).send({ error: invalid.error, message });
}

/** What an answer is, by status code, for a route's response schema that does not say. */
const STATUS_DESCRIPTIONS: Record<string, string> = {
  200: "the answer",
  204: "no content",
  400: "a malformed request: an error name and message",
  404: "not found: an error name and message",
  429: "too many requests from this address",
  500: "an internal error",
  503: "not available now",
};

/**
 * An onRoute hook: every response of a route's schema gets a description (OpenAPI requires one;
 * @fastify/swagger would write "Default Response"), by status code unless the route gives its own.
 */
export function describeResponses(route: RouteOptions): void {
  const response = (route.schema as { response?: Record<string, { description?: string }> } | undefined)
    ?.response;
  if (!response) return;
  for (const [code, schema] of Object.entries(response))
    if (schema && typeof schema === "object" && !schema.description)
      response[code] = { ...schema, description: STATUS_DESCRIPTIONS[code] ?? `status ${code}` };
}

export const hex32 = { type: "string", pattern: "^0x[0-9a-f]{64}$" } as const;
export const str = { type: "string" } as const;

export const errorSchema = {
  type: "object",
  required: ["error", "message"],
  properties: { error: str, message: str },
} as const;

/** A reading as served: the arguments of verifyReading, once its batch is committed. */
export const readingSchema = {
  type: "object",
  required: ["id", "status", "reading", "signature", "curve"],
  properties: {
    id: { type: "string", description: "<device name>:<sequence>" },
    status: { type: "string", enum: ["queued", "committed", "rejected", "revoked"] },
    reason: { type: "string", description: "why a reading is rejected or revoked" },
    reading: {
      type: "object",
      required: ["deviceId", "feedId", "value", "timestamp", "sequence"],
      properties: {
        deviceId: str,
        feedId: str,
        value: { type: "string", description: "int256, decimal" },
        timestamp: str,
        sequence: str,
      },
    },
    signature: { type: "string", description: "on-chain form: P-256 r||s, secp256k1 r||s||v" },
    curve: { type: "string", enum: ["p256", "secp256k1"] },
    batch: {
      type: "object",
      required: ["root", "txHash", "blockNumber"],
      properties: { root: str, txHash: str, blockNumber: str },
    },
    proof: { type: "array", items: str },
  },
} as const;

/** What {@link oneParamRoute} builds a GET route's options from. */
export type OneParamRouteParameters = {
  summary: string;
  /** The path parameter, its pattern and (optionally) its description. */
  param: { name: string; pattern: string; description?: string };
  /** The 200 answer: its description and schema. */
  ok: { description: string; schema: object };
  /** The 400 answer's description; none when a malformed param is answered with 404. */
  badRequest?: string;
  /** The 404 answer's description. */
  notFound: string;
  invalid: InvalidRequest;
};

/**
 * The options of a GET route with one patterned path parameter: its schema (params, 200, 400 and
 * 404 answers) and the answer to a param that fails its pattern.
 */
export function oneParamRoute({
  summary,
  param,
  ok,
  badRequest,
  notFound,
  invalid,
}: OneParamRouteParameters) {
  const { name, ...paramSchema } = param;
  return {
    schema: {
      summary,
      params: {
        type: "object",
        required: [name],
        properties: { [name]: { type: "string", ...paramSchema } },
      },
      response: {
        200: { description: ok.description, ...ok.schema },
        ...(badRequest === undefined ? {} : { 400: { description: badRequest, ...errorSchema } }),
        404: { description: notFound, ...errorSchema },
      },
    },
    config: { invalid },
  };
}
