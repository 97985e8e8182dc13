import type { KeyObject } from "node:crypto";

/** Estimated bytes one cached key object costs the process (measured, see p256-key.mjs). */
export const P256_KEY_OBJECT_BYTES: number;
/** The cache's default memory budget in bytes. */
export const DEFAULT_P256_KEY_CACHE_BYTES: number;
/** Set the cache's memory budget in bytes (empties it). */
export function setP256KeyCacheBytes(bytes: number): void;
/** How many keys are cached now, and their estimated bytes. */
export function p256KeyCacheStats(): { keys: number; bytes: number };
/** A P-256 public key (65 bytes, uncompressed) as a node:crypto KeyObject; cached least-recently-used within a memory budget. */
export function p256KeyObject(publicKey: Uint8Array): KeyObject;
