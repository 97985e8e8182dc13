// The reading functions that use viem's general ABI and typed-data encoders: the Merkle leaf, the
// device id and the reference digest. Apart from reading.ts so that the device agent, which needs
// only readingDigest and feedIdOf, does not load viem (about 30 MB of RSS on a gateway).
import { encodeAbiParameters, type Hex, hashTypedData, keccak256 } from "viem";
import {
  Curve,
  type CurveName,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  LEAF_TYPES,
  leafValues,
  READING_TYPES,
  type Reading,
  type ReadingDomain,
  splitPublicKey,
} from "./reading.js";

/** The EIP-712 digest computed by viem's general typed-data code (reference for tests). */
export function readingDigestReference(reading: Reading, domain: ReadingDomain): Hex {
  return hashTypedData({
    domain: {
      name: DOMAIN_NAME,
      version: DOMAIN_VERSION,
      chainId: BigInt(domain.chainId),
      verifyingContract: domain.registry,
    },
    types: READING_TYPES,
    primaryType: "Reading",
    message: reading,
  });
}

/** The Merkle leaf of a reading: keccak256(keccak256(abi.encode(deviceId, feedId, value, timestamp, sequence))). */
export function readingLeaf(r: Reading): Hex {
  const inner = keccak256(
    encodeAbiParameters(
      LEAF_TYPES.map((type) => ({ type })),
      leafValues(r),
    ),
  );
  return keccak256(inner);
}

/**
 * The device id of a first key: keccak256(abi.encode(uint8 curve, bytes32 x, bytes32 y)).
 * It stays the device's id across key rotations.
 */
export function deviceIdOf(curve: CurveName, publicKey: Uint8Array): Hex {
  const { x, y } = splitPublicKey(publicKey);
  return keccak256(
    encodeAbiParameters([{ type: "uint8" }, { type: "bytes32" }, { type: "bytes32" }], [Curve[curve], x, y]),
  );
}
