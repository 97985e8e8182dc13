// The worker of bridge/verify-pool.ts: ES256 checks of fixed-size records (65-byte key, 32-byte
// digest, 64-byte r||s), one result byte each (1 valid, 0 not).
import { verify } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { p256KeyObject } from "../protocol/p256-key.mjs";

const RECORD = 65 + 32 + 64;

parentPort?.on("message", ({ id, buf }) => {
  const n = buf.length / RECORD;
  const results = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * RECORD;
    try {
      const ok = verify(
        "sha256",
        buf.subarray(o + 65, o + 97),
        { key: p256KeyObject(buf.subarray(o, o + 65)), dsaEncoding: "ieee-p1363" },
        buf.subarray(o + 97, o + 161),
      );
      results[i] = ok ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort?.postMessage({ id, results }, [results.buffer]);
});
