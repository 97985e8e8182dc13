import type { Hex } from "viem";
import type { CurveName } from "../protocol/reading.js";
import { publicKeyOf, signDigest } from "../protocol/signature.js";

/** What signs readings: a PKCS#11 token in the field, a software key for development. */
export interface ReadingSigner {
  readonly curve: CurveName;
  /** 65-byte uncompressed SEC1 public key. */
  readonly publicKey: Uint8Array;
  /** Sign a reading digest: 64 bytes r||s, low-S (docs/PROTOCOL.md). */
  sign(digest: Hex): Promise<Uint8Array>;
}

/**
 * A key held in process memory. For development and the demo only: a device's key belongs in
 * its hardware token. Says so once when created (unless told it is known).
 */
export class SoftwareSigner implements ReadingSigner {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;

  constructor(
    readonly curve: CurveName,
    secretKey: Uint8Array,
    opts: { warn?: (msg: string) => void } = {},
  ) {
    this.#secretKey = secretKey;
    this.publicKey = publicKeyOf(curve, secretKey);
    (opts.warn ?? ((m) => process.emitWarning(m)))(
      "software signer: the reading key is held in memory, not in a hardware token (development only)",
    );
  }

  async sign(digest: Hex): Promise<Uint8Array> {
    return signDigest(this.curve, this.#secretKey, digest);
  }

  toJSON() {
    return { curve: this.curve, kind: "software" };
  }
}
