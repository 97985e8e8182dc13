import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { afterAll, describe, expect, it } from "vitest";
import { VerifyCheckFailedError } from "./errors.js";
import { VerifyPool } from "./verify-pool.js";

function p256Pair() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-65);
  return { privateKey, raw };
}

function k1Pair() {
  const secret = secp256k1.utils.randomSecretKey();
  return { secret, raw: secp256k1.getPublicKey(secret, false) };
}

const digestOf = (s: string) => createHash("sha256").update(s).digest();

/** A mixed burst: P-256 and secp256k1, valid, wrong key, wrong digest; with the expected answer. */
function burst(n: number) {
  const a = p256Pair();
  const b = p256Pair();
  const k = k1Pair();
  const other = k1Pair();
  return Array.from({ length: n }, (_, i) => {
    const digest = digestOf(`reading ${i} ${randomBytes(4).toString("hex")}`);
    const wrongKey = i % 3 === 0;
    const wrongDigest = i % 5 === 0;
    const checked = wrongDigest ? digestOf("other") : digest;
    if (i % 2 === 0) {
      const signature = sign("sha256", digest, { key: a.privateKey, dsaEncoding: "ieee-p1363" });
      const valid = !wrongKey && !wrongDigest;
      return {
        curve: "p256" as const,
        key: wrongKey ? b.raw : a.raw,
        checked,
        signature,
        expected: valid ? 1 : 0,
      };
    }
    const sig = secp256k1.sign(digest, k.secret, { prehash: false, lowS: true, format: "recovered" });
    const signature = sig.subarray(1, 65);
    const valid = !wrongKey && !wrongDigest;
    return {
      curve: "secp256k1" as const,
      key: wrongKey ? other.raw : k.raw,
      checked,
      signature,
      expected: valid ? 27 + (sig[0] as number) : 0,
    };
  });
}

describe("VerifyPool: signature checks on worker threads", () => {
  const pool = new VerifyPool({ workers: 2 });
  afterAll(() => pool.close());

  it("answers each check of a mixed burst (P-256 and secp256k1) with its own verdict and v", async () => {
    const jobs = burst(600);
    const answers = await Promise.all(jobs.map((j) => pool.check(j.curve, j.key, j.checked, j.signature)));
    expect(answers).toEqual(jobs.map((j) => j.expected));
    expect(answers.filter((a) => a === 28).length).toBeGreaterThan(10);
    expect(answers.filter((a) => a === 27).length).toBeGreaterThan(10);
  });

  it("says no to a malformed key instead of failing the batch", async () => {
    const a = p256Pair();
    const digest = digestOf("x");
    const signature = sign("sha256", digest, { key: a.privateKey, dsaEncoding: "ieee-p1363" });
    const notOnCurve = new Uint8Array(65).fill(7);
    notOnCurve[0] = 4;
    const [bad, good, short] = await Promise.all([
      pool.verifyP256(notOnCurve, digest, signature),
      pool.verifyP256(a.raw, digest, signature),
      pool.check("secp256k1", new Uint8Array(33), digest, signature),
    ]);
    expect([bad, good, short]).toEqual([false, true, 0]);
  });

  it("answers every pending check correctly when a worker is killed mid-run, and replaces it", async () => {
    const exits: string[] = [];
    const p = new VerifyPool({ workers: 2, onWorkerExit: (e) => exits.push(e.reason) });
    try {
      const jobs = burst(4_000);
      const pending = jobs.map((j) => p.check(j.curve, j.key, j.checked, j.signature));
      // Let the first batches reach the workers, then kill both while they hold checks.
      await new Promise((r) => setImmediate(r));
      expect(p.status().inFlight).toBeGreaterThan(0);
      await Promise.all([p.terminateWorker(0), p.terminateWorker(1)]);
      expect(await Promise.all(pending)).toEqual(jobs.map((j) => j.expected));
      expect(exits.length).toBe(2);
      const s = p.status();
      expect(s).toMatchObject({ size: 2, live: 2, restarts: 2, queued: 0, inFlight: 0 });
    } finally {
      await p.close();
    }
  });

  it("fails only the check that keeps killing workers, with a typed error, and answers the rest", async () => {
    const p = new VerifyPool({
      workers: 1,
      maxAttempts: 3,
      workerUrl: new URL("../testkit/verify-crash-worker.mjs", import.meta.url),
    });
    try {
      const jobs = burst(200);
      const poison = Buffer.concat([Buffer.from("deadbeef", "hex"), randomBytes(28)]);
      const pending = jobs.map((j) => p.check(j.curve, j.key, j.checked, j.signature));
      const killer = p.check("p256", jobs[0]?.key as Uint8Array, poison, jobs[0]?.signature as Uint8Array);
      const failure = await killer.catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(VerifyCheckFailedError);
      expect((failure as VerifyCheckFailedError).attempts).toBe(3);
      expect(await Promise.all(pending)).toEqual(jobs.map((j) => j.expected));
      // The pool still works after: a fresh worker answers.
      const after = burst(10);
      expect(await Promise.all(after.map((j) => p.check(j.curve, j.key, j.checked, j.signature)))).toEqual(
        after.map((j) => j.expected),
      );
      expect(p.status().restarts).toBe(3);
    } finally {
      await p.close();
    }
  });

  it("takes 50,000 distinct P-256 keys without running out of memory (bounded key cache)", async () => {
    const exits: string[] = [];
    const p = new VerifyPool({ workers: 1, onWorkerExit: (e) => exits.push(e.reason) });
    try {
      const digest = digestOf("fleet");
      const signature = randomBytes(64);
      for (let done = 0; done < 50_000; done += 5_000) {
        const keys = Array.from({ length: 5_000 }, () =>
          generateKeyPairSync("ec", { namedCurve: "P-256" })
            .publicKey.export({ type: "spki", format: "der" })
            .subarray(-65),
        );
        const answers = await Promise.all(keys.map((k) => p.verifyP256(k, digest, signature)));
        expect(answers.every((a) => a === false)).toBe(true);
      }
      expect(exits).toEqual([]);
      expect(p.status().restarts).toBe(0);
    } finally {
      await p.close();
    }
  }, 120_000);

  it("refuses work once closed", async () => {
    const p = new VerifyPool({ workers: 1 });
    await p.close();
    await expect(p.verifyP256(new Uint8Array(65), new Uint8Array(32), new Uint8Array(64))).rejects.toThrow(
      /closed/,
    );
  });
});
