/** "native" (libsecp256k1 through the secp256k1 package's binding) or "noble" (@noble/curves fallback). */
export const secp256k1Implementation: "native" | "noble";
/** Why the native binding did not load (null when it did). */
export const secp256k1NativeError: string | null;
/** A 64-byte r||s with r in [1, n-1] and s in [1, n/2]. */
export function isLowSSecp256k1(signature: Uint8Array): boolean;
/** 27 or 28 (the on-chain v) when the low-S signature over the 32-byte digest is the 65-byte key's; 0 when not. */
export function secp256k1RecoveryByte(
  publicKey: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array,
): number;
