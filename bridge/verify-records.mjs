// The checks of bridge/verify-worker.mjs, on records of RECORD bytes (curve byte, 65-byte key,
// 32-byte digest, 64-byte low-S r||s), one result byte each: P-256 1 valid, 0 not; secp256k1 27 or
// 28 (the on-chain v) valid, 0 not. Plain JavaScript: worker threads load it without tsx.
import { verify } from "node:crypto";
import { p256KeyObject } from "../protocol/p256-key.mjs";
import { secp256k1RecoveryByte } from "../protocol/secp256k1-native.mjs";

export const RECORD = 1 + 65 + 32 + 64;
const SECP256K1 = 1;

function check(buf, o) {
  const key = buf.subarray(o + 1, o + 66);
  const digest = buf.subarray(o + 66, o + 98);
  const signature = buf.subarray(o + 98, o + 162);
  if (buf[o] === SECP256K1) return secp256k1RecoveryByte(key, digest, signature);
  const ok = verify("sha256", digest, { key: p256KeyObject(key), dsaEncoding: "ieee-p1363" }, signature);
  return ok ? 1 : 0;
}

export function checkRecords(buf) {
  const n = buf.length / RECORD;
  const results = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    try {
      results[i] = check(buf, i * RECORD);
    } catch {
      results[i] = 0; // a key not on the curve, a malformed signature
    }
  }
  return results;
}
