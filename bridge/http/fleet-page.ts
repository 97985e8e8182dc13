import { readFileSync } from "node:fs";
import type { FastifyPluginAsync, FastifyReply } from "fastify";

/**
 * The fleet page's files, beside this module (the package build copies them into dist/): the
 * HTML, its script, its style sheet and its icon. Read once at start-up.
 */
const FILES = {
  "/fleet": { file: "index.html", type: "text/html; charset=utf-8" },
  "/fleet/fleet.js": { file: "fleet.js", type: "text/javascript; charset=utf-8" },
  "/fleet/fleet.css": { file: "fleet.css", type: "text/css; charset=utf-8" },
  "/fleet/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
} as const;

/** The page's paths (not API routes: hidden from the OpenAPI document). */
export const FLEET_PAGE_PATHS: readonly string[] = Object.keys(FILES);

/**
 * The page may load and call only this origin: no inline script or style, no other host, no
 * framing. Its data comes from /fleet/summary (fleet-summary.ts).
 */
export const FLEET_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function readAsset(file: string): Buffer {
  const url = new URL(`./fleet-page/${file}`, import.meta.url);
  try {
    return readFileSync(url);
  } catch (err) {
    throw new Error(`the fleet page's ${file} is missing beside ${new URL(".", import.meta.url).pathname}`, {
      cause: err,
    });
  }
}

function secure(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .type(type)
    .header("content-security-policy", FLEET_PAGE_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cache-control", "no-cache");
}

/**
 * GET /fleet: the fleet in a browser (devices, feeds with a chart of recent values, batches with
 * their transactions), refreshed every few seconds from /fleet/summary. Static files, no build
 * step, nothing from another host. Not API routes: hidden from the OpenAPI document.
 */
export const fleetPageRoutes: FastifyPluginAsync = async (app) => {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = readAsset(file);
    app.get(path, { schema: { hide: true } }, async (_req, reply) => secure(reply, type).send(body));
  }
};
