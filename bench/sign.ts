// npm run bench:sign — reading signatures per second through PKCS#11 (SoftHSM2) for each curve,
// beside the software signer (P-256: node:crypto; secp256k1: @noble/curves), from one run.
// Concurrency 1 and 4 for the token.
import type { Hex } from "viem";
import { Pkcs11Token } from "../device-agent/pkcs11-signer.js";
import { type ReadingSigner, SoftwareSigner } from "../device-agent/signer.js";
import { type CurveName, randomSecretKey, readingDigest } from "../protocol/index.js";
import { createSoftHsmToken, SOFTHSM_MODULE } from "../testkit/softhsm.js";

const MODULE = process.env.PKCS11_MODULE ?? SOFTHSM_MODULE;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

const hsm = createSoftHsmToken("bench");

const digests: Hex[] = Array.from({ length: 256 }, (_, i) =>
  readingDigest(
    {
      deviceId: `0x${"11".repeat(32)}`,
      feedId: `0x${"22".repeat(32)}`,
      value: BigInt(i),
      timestamp: 1n,
      sequence: BigInt(i + 1),
    },
    { chainId: 1, registry: `0x${"33".repeat(20)}` },
  ),
);

async function rate(signer: ReadingSigner, concurrency: number): Promise<number> {
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await signer.sign(digests[n % digests.length] as Hex);
        n++;
      }
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

const token = Pkcs11Token.open({
  modulePath: MODULE,
  token: { label: hsm.label },
  pin: { file: hsm.pinFile },
  sessions: 4,
});
const rows: string[] = [];
try {
  for (const curve of ["p256", "secp256k1"] as CurveName[]) {
    process.stderr.write(`measuring ${curve} (${SECONDS} s each)...\n`);
    token.generateKey({ curve, label: curve });
    const hw = token.signer(curve, curve);
    const sw = new SoftwareSigner(curve, randomSecretKey(curve), { warn: () => {} });
    const [t1, t4, s1] = [await rate(hw, 1), await rate(hw, 4), await rate(sw, 1)];
    rows.push(
      `| ${curve} | ${t1.toFixed(0)} | ${t4.toFixed(0)} | ${s1.toFixed(0)} | ${(t4 / s1).toFixed(2)}× |`,
    );
  }
} finally {
  token.close();
  hsm.cleanup();
}
const table = [
  "| curve | PKCS#11 (SoftHSM2), 1 at a time | PKCS#11, 4 concurrent | software (P-256 node:crypto, secp256k1 @noble/curves) | token (4) / software |",
  "|---|---:|---:|---:|---:|",
  ...rows,
].join("\n");
console.log(table);
console.log(`bench:sign done: signatures per second over ${SECONDS} s per cell, module ${MODULE}`);
