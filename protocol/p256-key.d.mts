import type { KeyObject } from "node:crypto";

/** A P-256 public key (65 bytes, uncompressed) as a node:crypto KeyObject; the last 100,000 are cached. */
export function p256KeyObject(publicKey: Uint8Array): KeyObject;
