/** Bytes of one record: curve byte, 65-byte key, 32-byte digest, 64-byte signature. */
export const RECORD: number;
/** One result byte per record: P-256 1 valid / 0 not; secp256k1 27 or 28 valid / 0 not. */
export function checkRecords(buf: Uint8Array): Uint8Array;
