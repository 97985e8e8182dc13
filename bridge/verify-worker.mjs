// The worker of bridge/verify-pool.ts: checks batches of records (verify-records.mjs) and answers
// one result byte per record.
import { parentPort, workerData } from "node:worker_threads";
import { setP256KeyCacheBytes } from "../protocol/p256-key.mjs";
import { checkRecords } from "./verify-records.mjs";

if (workerData?.keyCacheBytes) setP256KeyCacheBytes(workerData.keyCacheBytes);

parentPort?.on("message", ({ id, buf }) => {
  const results = checkRecords(buf);
  parentPort?.postMessage({ id, results }, [results.buffer]);
});
