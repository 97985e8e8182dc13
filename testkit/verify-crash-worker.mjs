// A verify worker for tests of bridge/verify-pool.ts: the real checks, except that a batch holding a
// record whose digest starts with 0xdeadbeef ends the worker thread before it answers, as an
// out-of-memory or a crash would.
import { parentPort } from "node:worker_threads";
import { checkRecords, RECORD } from "../bridge/verify-records.mjs";

parentPort?.on("message", ({ id, buf }) => {
  for (let o = 0; o < buf.length; o += RECORD) {
    if (buf[o + 66] === 0xde && buf[o + 67] === 0xad && buf[o + 68] === 0xbe && buf[o + 69] === 0xef)
      process.exit(70);
  }
  const results = checkRecords(buf);
  parentPort?.postMessage({ id, results }, [results.buffer]);
});
