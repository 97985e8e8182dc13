import { keccak_256 } from "@noble/hashes/sha3.js";
import type { Hex } from "viem";

/** Curve identifiers; the numbers are part of the protocol and of DeviceRegistry.Curve. */
export const Curve = { secp256k1: 1, p256: 2 } as const;
export type CurveName = keyof typeof Curve;

/** The curve of a code as DeviceRegistry stores it (1 secp256k1, 2 P-256). */
export const curveOf = (code: number): CurveName => (code === Curve.secp256k1 ? "secp256k1" : "p256");

/** One reading as a device signs it (docs/PROTOCOL.md). */
export type Reading = {
  deviceId: Hex;
  feedId: Hex;
  value: bigint;
  timestamp: bigint;
  sequence: bigint;
};

/** EIP-712 types of a Reading. */
export const READING_TYPES = {
  Reading: [
    { name: "deviceId", type: "bytes32" },
    { name: "feedId", type: "bytes32" },
    { name: "value", type: "int256" },
    { name: "timestamp", type: "uint64" },
    { name: "sequence", type: "uint64" },
  ],
} as const;

/** The EIP-712 domain of one deployment: the DeviceRegistry is the verifying contract. */
export type ReadingDomain = { chainId: number | bigint; registry: Hex };

export const DOMAIN_NAME = "SensorOracle";
export const DOMAIN_VERSION = "1";

export const UINT64_MAX = (1n << 64n) - 1n;
export const INT256_MIN = -(1n << 255n);
export const INT256_MAX = (1n << 255n) - 1n;

const READING_TYPEHASH = keccak_256(
  new TextEncoder().encode(
    "Reading(bytes32 deviceId,bytes32 feedId,int256 value,uint64 timestamp,uint64 sequence)",
  ),
);
const separators = new Map<string, Uint8Array>();

const utf8 = new TextEncoder();
const EIP712_DOMAIN_TYPEHASH = keccak_256(
  utf8.encode("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
);

/** An address as viem's encoder accepts it: 20 bytes of hex, lowercase or EIP-55 checksummed. */
function isAddress(a: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) return false;
  const hex = a.slice(2);
  if (hex === hex.toLowerCase()) return true;
  const hash = keccak_256(utf8.encode(hex.toLowerCase()));
  for (let i = 0; i < 40; i++) {
    const nibble = ((hash[i >> 1] as number) >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    const c = hex[i] as string;
    if (/[a-f]/.test(c) && nibble >= 8) return false;
    if (/[A-F]/.test(c) && nibble < 8) return false;
  }
  return true;
}

/**
 * The EIP-712 domain separator: keccak256(abi.encode(typehash, keccak256(name), keccak256(version),
 * chainId, verifyingContract)), encoded directly (the agent does not load viem; the vectors in
 * protocol/vectors.test.ts compare readingDigest with viem's hashTypedData).
 */
function domainSeparatorBytes(domain: ReadingDomain): Uint8Array {
  const key = `${domain.chainId}:${domain.registry.toLowerCase()}`;
  let sep = separators.get(key);
  if (!sep) {
    if (!isAddress(domain.registry))
      throw new TypeError(`the domain's registry is not an address: ${domain.registry}`);
    const buf = new Uint8Array(160);
    buf.set(EIP712_DOMAIN_TYPEHASH, 0);
    buf.set(keccak_256(utf8.encode(DOMAIN_NAME)), 32);
    buf.set(keccak_256(utf8.encode(DOMAIN_VERSION)), 64);
    const view = new DataView(buf.buffer);
    putWord(view, 96, BigInt.asUintN(256, BigInt(domain.chainId)));
    buf.set(Buffer.from(domain.registry.slice(2), "hex"), 140);
    sep = keccak_256(buf);
    separators.set(key, sep);
  }
  return sep;
}

/** A Keccak-256 as readingDigest uses it: the digest as bytes, or as hex without 0x. */
export type ReadingKeccak = { bytes(data: Uint8Array): Uint8Array; hex(data: Uint8Array): string };

// readingDigest's keccak: @noble/hashes unless one is installed. The protocol's index installs
// hash-wasm's (keccak-wasm.ts: 2.3 µs for a reading's two hashes against 15.7 µs), so the bridge
// hashes with it; the device agent imports this module alone and does not load WebAssembly
// (about 10 MB of RSS on a gateway, for a few thousand readings a second at most).
let keccak: ReadingKeccak = {
  bytes: keccak_256,
  hex: (data) => Buffer.from(keccak_256(data)).toString("hex"),
};

/** Install the Keccak-256 readingDigest uses (the same hash, another implementation). */
export function setReadingKeccak(k: ReadingKeccak): void {
  keccak = k;
}
const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);

function keccakInto(data: Uint8Array, out: Uint8Array, offset: number): void {
  out.set(keccak.bytes(data), offset);
}

/** A signed or unsigned 256-bit word, big-endian, two's complement (abi.encode of int256/uint64). */
function putWord(view: DataView, offset: number, v: bigint): void {
  if (v >= MIN_INT64 && v <= MAX_INT64) {
    const fill = v < 0n ? 0xffffffff : 0;
    for (let i = 0; i < 24; i += 4) view.setUint32(offset + i, fill);
    view.setBigInt64(offset + 24, v);
    return;
  }
  let x = BigInt.asUintN(256, v);
  for (let i = 31; i >= 0; i--) {
    view.setUint8(offset + i, Number(x & 0xffn));
    x >>= 8n;
  }
}

// Reused per call (the function is synchronous): no allocation but the returned string.
const structBuf = new Uint8Array(192);
const structView = new DataView(structBuf.buffer);
structBuf.set(READING_TYPEHASH, 0);
const digestBuf = new Uint8Array(66);
digestBuf[0] = 0x19;
digestBuf[1] = 0x01;

/**
 * The 32-byte EIP-712 digest every device signs (docs/PROTOCOL.md section 3). The Reading's
 * encoding has a fixed size, so it is hashed directly: about ten times faster than the general
 * typed-data encoder, which cost more than the signature check on the bridge's hot path.
 */
export function readingDigest(reading: Reading, domain: ReadingDomain): Hex {
  // Buffer's hex codec: viem's general hexToBytes showed in the bridge's profile.
  structBuf.set(Buffer.from(reading.deviceId.slice(2), "hex"), 32);
  structBuf.set(Buffer.from(reading.feedId.slice(2), "hex"), 64);
  putWord(structView, 96, reading.value);
  putWord(structView, 128, reading.timestamp);
  putWord(structView, 160, reading.sequence);
  digestBuf.set(domainSeparatorBytes(domain), 2);
  keccakInto(structBuf, digestBuf, 34);
  return `0x${keccak.hex(digestBuf)}`;
}

/** Leaf types of the Merkle tree: OpenZeppelin's standard tree format over these values. */
export const LEAF_TYPES = ["bytes32", "bytes32", "int256", "uint64", "uint64"] as const;

export function leafValues(r: Reading): [Hex, Hex, bigint, bigint, bigint] {
  return [r.deviceId, r.feedId, r.value, r.timestamp, r.sequence];
}

/** x and y of an uncompressed SEC1 public key (0x04 || x || y). */
export function splitPublicKey(publicKey: Uint8Array): { x: Hex; y: Hex } {
  if (publicKey.length !== 65 || publicKey[0] !== 4) {
    throw new TypeError("expected a 65-byte uncompressed SEC1 public key");
  }
  return { x: toHex32(publicKey.subarray(1, 33)), y: toHex32(publicKey.subarray(33, 65)) };
}

function toHex32(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** Device id as it appears in topics and certificate CNs: 64 lowercase hex digits, no 0x. */
export function deviceIdToName(deviceId: Hex): string {
  return deviceId.slice(2).toLowerCase();
}

export function deviceNameToId(name: string): Hex {
  return `0x${name}`;
}

/** A feed id from a human name: keccak256 of its UTF-8 bytes. */
export function feedIdOf(name: string): Hex {
  return `0x${Buffer.from(keccak_256(utf8.encode(name))).toString("hex")}`;
}
