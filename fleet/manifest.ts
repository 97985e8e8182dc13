import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ManifestError } from "./errors.js";

/**
 * A manifest: many devices to enrol in one command. Either our form,
 *
 *   { "version": 1, "devices": [ { "csr": "<PEM>" } | { "csrFile": "dev-1.csr" }
 *                                 | { "factoryCertificate": "<PEM or base64 DER>" | [leaf, intermediates...],
 *                                     "csr"?: "<PEM, signed by the factory key>" } ] }
 *
 * or a Microchip Trust&GO manifest: a JSON array of entries (JWS with a base64url `payload`, or the
 * payload itself) whose `publicKeySet.keys[]` carry the chip's P-256 key (JWK) and its certificate
 * chain (`x5c`). Each entry becomes a ManifestEntry with a stable key, by which the state file of a
 * run remembers what is done.
 */

export type ManifestEntry = {
  /** Stable within the manifest: the entry's position and content hash (state file key). */
  key: string;
  /** What progress and errors call it: "#12" or the chip's unique id. */
  label: string;
} & (
  | { kind: "csr"; csrPem: string }
  | {
      kind: "factory";
      chain: string[];
      csrPem?: string;
      jwk?: { x: string; y: string };
      /** The entry as the manufacturer signed it (Trust&GO): checked against pinned signers. */
      jws?: { protected: string; payload: string; signature: string };
    }
);

export type Manifest = { path: string; digest: string; entries: ManifestEntry[] };

const b64url = (s: string) => Buffer.from(s, "base64url").toString("utf8");

function entryKey(i: number, content: string): string {
  return `${i}:${createHash("sha256").update(content).digest("hex").slice(0, 16)}`;
}

/** Read a manifest file (ours or Trust&GO). Throws ManifestError. */
export function readManifest(path: string): Manifest {
  const text = readFileSync(path, "utf8");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ManifestError("malformed", "The manifest is not JSON.", { cause, details: path });
  }
  const base = dirname(resolve(path));
  const entries: ManifestEntry[] = [];
  const items: unknown[] = Array.isArray(doc) ? doc : ((doc as { devices?: unknown[] })?.devices ?? []);
  if (!Array.isArray(items) || items.length === 0)
    throw new ManifestError("malformed", "The manifest lists no devices.", { details: path });
  items.forEach((raw, i) => {
    const bad = (why: string) =>
      new ManifestError("entry_invalid", `Manifest entry #${i + 1} is not usable: ${why}.`, {
        details: path,
      });
    if (typeof raw !== "object" || raw === null) throw bad("not an object");
    const e = raw as Record<string, unknown>;
    if (typeof e.csr === "string" && e.factoryCertificate === undefined) {
      entries.push({ key: entryKey(i, e.csr), label: `#${i + 1}`, kind: "csr", csrPem: e.csr });
    } else if (typeof e.csrFile === "string") {
      const csrPem = readFileSync(resolve(base, e.csrFile), "utf8");
      entries.push({ key: entryKey(i, csrPem), label: `#${i + 1} (${e.csrFile})`, kind: "csr", csrPem });
    } else if (e.factoryCertificate !== undefined) {
      const chain = Array.isArray(e.factoryCertificate) ? e.factoryCertificate : [e.factoryCertificate];
      if (!chain.every((c) => typeof c === "string"))
        throw bad("factoryCertificate must be PEM or base64 DER");
      entries.push({
        key: entryKey(i, chain.join("")),
        label: `#${i + 1}`,
        kind: "factory",
        chain: chain as string[],
        ...(typeof e.csr === "string" ? { csrPem: e.csr } : {}),
      });
    } else if (e.payload !== undefined || e.publicKeySet !== undefined) {
      // Trust&GO: the signed entry's payload, or the payload as is.
      let payload: Record<string, unknown>;
      try {
        payload = (typeof e.payload === "string" ? JSON.parse(b64url(e.payload)) : e) as Record<
          string,
          unknown
        >;
      } catch (cause) {
        throw new ManifestError("entry_invalid", `Manifest entry #${i + 1}'s payload is not JSON.`, {
          cause,
        });
      }
      const keys = (payload.publicKeySet as { keys?: Record<string, unknown>[] } | undefined)?.keys ?? [];
      // The device key is the first EC P-256 key with a certificate chain (slot 0 on an ATECC608).
      const k = keys.find((x) => x.kty === "EC" && x.crv === "P-256" && Array.isArray(x.x5c));
      if (!k) throw bad("no P-256 key with a certificate chain (x5c) in publicKeySet");
      const uniqueId = String(
        payload.uniqueId ?? (e.header as { uniqueId?: string } | undefined)?.uniqueId ?? i + 1,
      );
      entries.push({
        key: entryKey(i, (k.x5c as string[]).join("")),
        label: `chip ${uniqueId}`,
        kind: "factory",
        chain: k.x5c as string[],
        jwk: { x: String(k.x), y: String(k.y) },
        ...(typeof e.payload === "string" &&
        typeof e.protected === "string" &&
        typeof e.signature === "string"
          ? { jws: { protected: e.protected, payload: e.payload, signature: e.signature } }
          : {}),
      });
    } else throw bad("neither csr, csrFile, factoryCertificate nor a Trust&GO publicKeySet");
  });
  const seen = new Set<string>();
  for (const e of entries) {
    const k = e.key.slice(e.key.indexOf(":") + 1);
    if (seen.has(k))
      throw new ManifestError("duplicate", `Manifest entry ${e.label} repeats an earlier entry.`);
    seen.add(k);
  }
  return { path, digest: createHash("sha256").update(text).digest("hex"), entries };
}
