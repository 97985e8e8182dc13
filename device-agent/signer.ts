import { type KeyObject, sign } from "node:crypto";
import type { Hex } from "viem";
import { publicKeyOfKeyObject, secretKeyObject } from "../pki/secret-key.js";
import type { CurveName } from "../protocol/reading.js";

/** What signs readings: a PKCS#11 token in the field, a software key for development. */
export interface ReadingSigner {
  readonly curve: CurveName;
  /** 65-byte uncompressed SEC1 public key. */
  readonly publicKey: Uint8Array;
  /** Sign a reading digest: 64 bytes r||s, low-S (docs/PROTOCOL.md). */
  sign(digest: Hex): Promise<Uint8Array>;
}

/** The order of P-256. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * A key held in process memory. For development and the demo only: a device's key belongs in
 * its hardware token. Says so once when created (unless told it is known).
 *
 * P-256 signs through node:crypto (OpenSSL: ES256, a random nonce, s made low): an outbox filled
 * at about 17,000 readings/s against 1,900 with @noble/curves, which stays out of the agent's
 * memory (docs/BENCHMARKS.md, "What the agent's memory is made of"). secp256k1 signs the digest itself, without hashing it,
 * which node:crypto cannot: @noble/curves does (protocol/signature.ts), loaded on its first signature.
 * Both produce what docs/PROTOCOL.md asks (64 bytes r||s, low-S); P-256 signatures are not
 * byte-for-byte those of protocol's signDigest (RFC 6979 nonces), as a token's are not either.
 */
export class SoftwareSigner implements ReadingSigner {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #key: KeyObject;

  constructor(
    readonly curve: CurveName,
    secretKey: Uint8Array,
    opts: { warn?: (msg: string) => void } = {},
  ) {
    this.#secretKey = secretKey;
    this.#key = secretKeyObject(curve, secretKey);
    this.publicKey = publicKeyOfKeyObject(this.#key);
    (opts.warn ?? ((m) => process.emitWarning(m)))(
      "software signer: the reading key is held in memory, not in a hardware token (development only)",
    );
  }

  async sign(digest: Hex): Promise<Uint8Array> {
    if (this.curve === "secp256k1") {
      const { signDigest } = await import("../protocol/signature.js");
      return signDigest(this.curve, this.#secretKey, digest);
    }
    if (!/^0x[0-9a-fA-F]{64}$/.test(digest))
      throw new TypeError(`not a 32-byte digest: ${digest.slice(0, 80)}`);
    const sig = sign("sha256", Buffer.from(digest.slice(2), "hex"), {
      key: this.#key,
      dsaEncoding: "ieee-p1363",
    });
    const s = BigInt(`0x${sig.subarray(32).toString("hex")}`);
    if (s > P256_N >> 1n) sig.write((P256_N - s).toString(16).padStart(64, "0"), 32, "hex");
    return Uint8Array.from(sig);
  }

  toJSON() {
    return { curve: this.curve, kind: "software" };
  }
}
