import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { P256VerifyPool } from "./verify-pool.js";

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-65);
  return { privateKey, raw };
}

describe("P256VerifyPool: ES256 checks on a worker thread", () => {
  const pool = new P256VerifyPool();
  afterAll(() => pool.close());

  it("answers each check of a burst with its own verdict", async () => {
    const a = keyPair();
    const b = keyPair();
    const jobs = Array.from({ length: 500 }, (_, i) => {
      const digest = createHash("sha256").update(`reading ${i}`).digest();
      const signature = sign("sha256", digest, { key: a.privateKey, dsaEncoding: "ieee-p1363" });
      // Every third: the other key; every fifth: another digest; the rest: valid.
      const key = i % 3 === 0 ? b.raw : a.raw;
      const checked = i % 5 === 0 ? createHash("sha256").update("other").digest() : digest;
      return { key, checked, signature, valid: i % 3 !== 0 && i % 5 !== 0 };
    });
    const verdicts = await Promise.all(jobs.map((j) => pool.verify(j.key, j.checked, j.signature)));
    expect(verdicts).toEqual(jobs.map((j) => j.valid));
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(200);
  });

  it("says no to a malformed key instead of failing the batch", async () => {
    const a = keyPair();
    const digest = createHash("sha256").update("x").digest();
    const signature = sign("sha256", digest, { key: a.privateKey, dsaEncoding: "ieee-p1363" });
    const notOnCurve = new Uint8Array(65).fill(7);
    notOnCurve[0] = 4;
    const [bad, good] = await Promise.all([
      pool.verify(notOnCurve, digest, signature),
      pool.verify(a.raw, digest, signature),
    ]);
    expect([bad, good]).toEqual([false, true]);
  });

  it("refuses work once closed", async () => {
    const p = new P256VerifyPool();
    await p.close();
    await expect(p.verify(new Uint8Array(65), new Uint8Array(32), new Uint8Array(64))).rejects.toThrow(
      /closed/,
    );
  });
});
