import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import pkcs11js from "pkcs11js";
import type { Hex } from "viem";
import type { CurveName } from "../protocol/reading.js";
import { normalizeLowS } from "../protocol/signature.js";
import { TokenError } from "./errors.js";
import { acquireModule, releaseModule, tokenFailure } from "./pkcs11-module.js";
import type { ReadingSigner } from "./signer.js";

/** DER-encoded EC parameters (named-curve OIDs) for CKA_EC_PARAMS. */
const EC_PARAMS: Record<CurveName, Buffer> = {
  p256: Buffer.from("06082a8648ce3d030107", "hex"),
  secp256k1: Buffer.from("06052b8104000a", "hex"),
};

export type TokenParameters = {
  /** Path of the PKCS#11 module (SoftHSM2, tpm2-pkcs11, an HSM vendor's library). */
  modulePath: string;
  /** The token, by label or by serial number. */
  token: { label: string } | { serial: string };
  /** Where the user PIN comes from: a file (first line) or an environment variable. Never a literal. */
  pin: { file: string } | { env: string };
  /** Sessions kept for concurrent signing. */
  sessions?: number;
};

export type KeyParameters = { curve: CurveName; label: string };

/** The PIN from its source; the PIN never appears in an error. */
export function readPin(source: TokenParameters["pin"]): string {
  if ("file" in source) {
    if (!existsSync(source.file))
      throw new TokenError("pin_missing", "PIN file not found.", { details: source.file });
    const pin = readFileSync(source.file, "utf8").split("\n")[0]?.trim() ?? "";
    if (!pin) throw new TokenError("pin_missing", "PIN file is empty.", { details: source.file });
    return pin;
  }
  const pin = process.env[source.env];
  if (!pin)
    throw new TokenError("pin_missing", "PIN environment variable is not set.", { details: source.env });
  return pin;
}

/**
 * A PKCS#11 token holding device keys. Keys are generated inside the token as sensitive and
 * non-extractable. The library is initialised with CKF_OS_LOCKING_OK (parallel C_Sign without it
 * corrupted SoftHSM2's heap here), and signing uses a pool of logged-in sessions, one operation per
 * session at a time, off the event loop (C_SignAsync).
 */
export class Pkcs11Token {
  private readonly lib: pkcs11js.PKCS11;
  private readonly slot: Buffer;
  private readonly free: Buffer[] = [];
  private readonly waiting: ((s: Buffer) => void)[] = [];
  private readonly all: Buffer[] = [];
  private readonly keyHandles = new Map<string, Buffer>();
  readonly label: string;
  readonly serial: string;

  private readonly modulePath: string;

  private constructor(lib: pkcs11js.PKCS11, modulePath: string, slot: Buffer, label: string, serial: string) {
    this.lib = lib;
    this.modulePath = modulePath;
    this.slot = slot;
    this.label = label;
    this.serial = serial;
  }

  /** Load the module, find the token and log in. Throws TokenError. */
  static open(p: TokenParameters): Pkcs11Token {
    if (!existsSync(p.modulePath)) {
      throw new TokenError("module_not_found", "PKCS#11 module not found.", {
        details: `${p.modulePath} (for SoftHSM2 install Debian's softhsm2: /usr/lib/softhsm/libsofthsm2.so)`,
      });
    }
    const pin = readPin(p.pin);
    const lib = acquireModule(p.modulePath);
    const want = "label" in p.token ? `label "${p.token.label}"` : `serial "${p.token.serial}"`;
    let found: { slot: Buffer; label: string; serial: string } | undefined;
    for (const slot of lib.C_GetSlotList(true)) {
      const info = lib.C_GetTokenInfo(slot);
      const label = info.label.trim();
      const serial = info.serialNumber.trim();
      if ("label" in p.token ? label === p.token.label : serial === p.token.serial) {
        found = { slot, label, serial };
        break;
      }
    }
    if (!found) {
      releaseModule(p.modulePath);
      throw new TokenError("token_not_found", "No token with that identity in the module.", {
        details: `${want} in ${p.modulePath}`,
      });
    }
    const token = new Pkcs11Token(lib, p.modulePath, found.slot, found.label, found.serial);
    const sessions = Math.max(1, p.sessions ?? 4);
    try {
      // Session 0 manages keys (generate, find, attributes); the others sign, one operation each.
      for (let i = 0; i <= sessions; i++) {
        const s = lib.C_OpenSession(found.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
        token.all.push(s);
        if (i > 0) token.free.push(s);
      }
      // Login is per application (all sessions share it); another Pkcs11Token on the same token
      // in this process may have logged in already.
      try {
        lib.C_Login(token.all[0] as Buffer, pkcs11js.CKU_USER, pin);
      } catch (err) {
        if ((err as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw err;
      }
    } catch (err) {
      token.close();
      throw tokenFailure(err, `logging in to ${want}`);
    }
    return token;
  }

  /** Generate a key pair inside the token: sensitive, non-extractable, on-token. */
  generateKey({ curve, label }: KeyParameters): Uint8Array {
    const s = this.all[0] as Buffer;
    const id = createHash("sha256").update(label).digest().subarray(0, 16);
    try {
      this.lib.C_GenerateKeyPair(
        s,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[curve] },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: id },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: id },
        ],
      );
    } catch (err) {
      throw tokenFailure(err, `generating a ${curve} key "${label}"`);
    }
    return this.publicKey(label);
  }

  /** The 65-byte uncompressed public key of the key pair with this label. */
  publicKey(label: string): Uint8Array {
    const h = this.find(pkcs11js.CKO_PUBLIC_KEY, label);
    const [attr] = this.lib.C_GetAttributeValue(this.all[0] as Buffer, h, [{ type: pkcs11js.CKA_EC_POINT }]);
    const point = attr?.value as Buffer;
    // CKA_EC_POINT is a DER OCTET STRING around 04||x||y.
    return new Uint8Array(point.length === 67 && point[0] === 0x04 ? point.subarray(2) : point);
  }

  /** Private-key attributes that show the key cannot leave the token. */
  keyProtection(label: string): { sensitive: boolean; extractable: boolean } {
    const h = this.find(pkcs11js.CKO_PRIVATE_KEY, label);
    const attrs = this.lib.C_GetAttributeValue(this.all[0] as Buffer, h, [
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_EXTRACTABLE },
    ]);
    const flag = (i: number) => (attrs[i]?.value as Buffer | undefined)?.[0] === 1;
    return { sensitive: flag(0), extractable: flag(1) };
  }

  /**
   * Destroy the key pair with this label (C_DestroyObject on its private and public key objects):
   * what `agent wipe` does to a decommissioned device's keys. Returns how many objects went.
   */
  destroyKey(label: string): number {
    let destroyed = 0;
    for (const cls of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
      for (;;) {
        let h: Buffer;
        try {
          h = this.find(cls, label);
        } catch {
          break;
        }
        this.lib.C_DestroyObject(this.all[0] as Buffer, h);
        destroyed++;
      }
    }
    this.keyHandles.delete(label);
    return destroyed;
  }

  hasKey(label: string): boolean {
    try {
      this.find(pkcs11js.CKO_PRIVATE_KEY, label);
      return true;
    } catch {
      return false;
    }
  }

  /** A ReadingSigner for the key pair with this label. */
  signer(curve: CurveName, label: string): Pkcs11Signer {
    return new Pkcs11Signer(this, curve, label, this.publicKey(label));
  }

  /** Raw ECDSA (CKM_ECDSA) over a 32-byte hash: r||s as the token returns it (maybe high-S). */
  async signHash(label: string, hash: Buffer): Promise<Buffer> {
    const s = await this.acquire();
    try {
      // Object handles hold across the application's sessions; look up on the session this
      // operation holds, never on one another signature may be using (CKR_OPERATION_ACTIVE).
      let key = this.keyHandles.get(label);
      if (!key) {
        key = this.find(pkcs11js.CKO_PRIVATE_KEY, label, s);
        this.keyHandles.set(label, key);
      }
      this.lib.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, key);
      return await this.lib.C_SignAsync(s, hash, Buffer.alloc(64));
    } catch (err) {
      throw tokenFailure(err, `signing with key "${label}"`);
    } finally {
      this.release(s);
    }
  }

  close(): void {
    for (const s of this.all) {
      try {
        this.lib.C_CloseSession(s);
      } catch {
        // already closed
      }
    }
    this.all.length = 0;
    releaseModule(this.modulePath);
  }

  private find(cls: number, label: string, session?: Buffer): Buffer {
    const s = session ?? (this.all[0] as Buffer);
    this.lib.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    const [h] = this.lib.C_FindObjects(s, 1);
    this.lib.C_FindObjectsFinal(s);
    if (!h) {
      throw new TokenError("key_not_found", "No key with that label in the token.", {
        details: `label "${label}" in token "${this.label}"`,
      });
    }
    return h;
  }

  private acquire(): Promise<Buffer> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.free.push(s);
  }
}

/**
 * Signs reading digests with a token-held key (docs/PROTOCOL.md section 1): P-256 as ES256 (the
 * host computes SHA-256 of the digest, the token signs it with CKM_ECDSA), secp256k1 over the
 * digest itself. Normalises to low-S: SoftHSM2 returns high-S about half the time.
 */
export class Pkcs11Signer implements ReadingSigner {
  constructor(
    private readonly token: Pkcs11Token,
    readonly curve: CurveName,
    readonly label: string,
    readonly publicKey: Uint8Array,
  ) {}

  async sign(digest: Hex): Promise<Uint8Array> {
    const d = Buffer.from(digest.slice(2), "hex");
    const hash = this.curve === "p256" ? createHash("sha256").update(d).digest() : d;
    const sig = await this.token.signHash(this.label, hash);
    return normalizeLowS(this.curve, new Uint8Array(sig));
  }

  toJSON() {
    return { curve: this.curve, kind: "pkcs11", token: this.token.label, label: this.label };
  }
}
