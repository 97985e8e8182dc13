// A P-256 public key (65 bytes, uncompressed) as a node:crypto KeyObject, cached. Plain JavaScript
// so that bridge/verify-worker.mjs, which runs on a worker thread without tsx, can import it too;
// its types are in p256-key.d.mts.
import { createPublicKey } from "node:crypto";

const cache = new Map();

export function p256KeyObject(publicKey) {
  const cacheKey = Buffer.from(publicKey).toString("hex");
  let key = cache.get(cacheKey);
  if (!key) {
    key = createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: Buffer.from(publicKey.subarray(1, 33)).toString("base64url"),
        y: Buffer.from(publicKey.subarray(33, 65)).toString("base64url"),
      },
      format: "jwk",
    });
    if (cache.size > 100_000) cache.clear();
    cache.set(cacheKey, key);
  }
  return key;
}
