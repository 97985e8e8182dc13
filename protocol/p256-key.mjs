// A P-256 public key (65 bytes, uncompressed) as a node:crypto KeyObject, cached. Plain JavaScript
// so that bridge/verify-worker.mjs, which runs on a worker thread without tsx, can import it too;
// its types are in p256-key.d.mts.
import { createPublicKey } from "node:crypto";
import { LRUCache } from "lru-cache";

/**
 * What one cached key costs the process, in bytes: measured with 20,000 distinct keys (node 22,
 * linux-x64) as about 2,770 bytes of resident memory each (the OpenSSL key outside the V8 heap,
 * its JavaScript wrapper and the 130-character hex name), rounded up.
 */
export const P256_KEY_OBJECT_BYTES = 3_000;

/** The default budget of the cache: 24 MiB, about 8,400 keys. Beyond it the least recent keys go. */
export const DEFAULT_P256_KEY_CACHE_BYTES = 24 * 1024 * 1024;

let cache = newCache(DEFAULT_P256_KEY_CACHE_BYTES);

function newCache(maxSize) {
  return new LRUCache({ maxSize, sizeCalculation: () => P256_KEY_OBJECT_BYTES });
}

/** Set the cache's memory budget in bytes (keeps nothing cached before). */
export function setP256KeyCacheBytes(bytes) {
  cache = newCache(Math.max(P256_KEY_OBJECT_BYTES, bytes));
}

/** How many keys are cached now, and their estimated bytes. */
export function p256KeyCacheStats() {
  return { keys: cache.size, bytes: cache.calculatedSize };
}

export function p256KeyObject(publicKey) {
  const cacheKey = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("hex");
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
    cache.set(cacheKey, key);
  }
  return key;
}
