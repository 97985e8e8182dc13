import { readFileSync } from "node:fs";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, encodeAbiParameters, type Hex, hexToBytes, keccak256, recoverAddress, toBytes } from "viem";
import { publicKeyToAddress } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { computeVectors, vectorsSolidity } from "./vectors.js";

const committed = JSON.parse(readFileSync(new URL("../docs/vectors.json", import.meta.url), "utf8"));
const vectors = computeVectors();

describe("protocol test vectors (docs/vectors.json)", () => {
  it("are what the protocol module computes today, in JSON and in the Solidity copy", () => {
    expect(committed).toEqual(JSON.parse(JSON.stringify(vectors)));
    const sol = readFileSync(new URL("../contracts/test/utils/Vectors.sol", import.meta.url), "utf8");
    expect(sol).toBe(vectorsSolidity(vectors));
  });

  it("digests match an independent encoding of EIP-712 (no viem typed-data code)", () => {
    const typeHash = keccak256(
      toBytes("Reading(bytes32 deviceId,bytes32 feedId,int256 value,uint64 timestamp,uint64 sequence)"),
    );
    const domainTypeHash = keccak256(
      toBytes("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
    );
    const separator = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "uint256" },
          { type: "address" },
        ],
        [
          domainTypeHash,
          keccak256(toBytes("SensorOracle")),
          keccak256(toBytes("1")),
          BigInt(committed.domain.chainId),
          committed.domain.verifyingContract,
        ],
      ),
    );
    for (const v of committed.readings) {
      const r = v.reading;
      const structHash = keccak256(
        encodeAbiParameters(
          ["bytes32", "bytes32", "bytes32", "int256", "uint64", "uint64"].map((type) => ({ type })),
          [typeHash, r.deviceId, r.feedId, BigInt(r.value), BigInt(r.timestamp), BigInt(r.sequence)],
        ),
      );
      expect(keccak256(concat(["0x1901", separator, structHash]))).toBe(v.digest);
    }
  });

  it("signatures verify with an independent verifier for each curve, and are low-S", () => {
    for (const v of committed.readings) {
      const dev = committed.devices.find((d: { curve: string }) => d.curve === v.curve);
      const sig = hexToBytes(v.wireSignature as Hex);
      const digest = hexToBytes(v.digest as Hex);
      if (v.curve === "p256") {
        // ES256 over the digest: ECDSA over sha256(digest).
        expect(
          p256.verify(sig, sha256(digest), hexToBytes(dev.publicKey), { prehash: false, lowS: true }),
        ).toBe(true);
        expect(p256.verify(sig, digest, hexToBytes(dev.publicKey), { prehash: false, lowS: false })).toBe(
          false,
        );
      } else {
        expect(secp256k1.verify(sig, digest, hexToBytes(dev.publicKey), { prehash: false, lowS: true })).toBe(
          true,
        );
      }
    }
  });

  it("secp256k1 on-chain signatures recover the device's Ethereum address", async () => {
    const dev = committed.devices.find((d: { curve: string }) => d.curve === "secp256k1");
    for (const v of committed.readings.filter((r: { curve: string }) => r.curve === "secp256k1")) {
      const addr = await recoverAddress({ hash: v.digest, signature: v.chainSignature });
      expect(addr).toBe(publicKeyToAddress(dev.publicKey));
    }
  });

  it("device ids are keccak256(abi.encode(uint8 curve, x, y))", () => {
    for (const d of committed.devices) {
      const curve = d.curve === "p256" ? 2 : 1;
      expect(
        keccak256(
          encodeAbiParameters(
            [{ type: "uint8" }, { type: "bytes32" }, { type: "bytes32" }],
            [curve, d.x, d.y],
          ),
        ),
      ).toBe(d.deviceId);
    }
  });
});

describe("readingDigest", () => {
  it("equals viem's general EIP-712 encoder for edge values", async () => {
    const { readingDigest, readingDigestReference, INT256_MIN, INT256_MAX, UINT64_MAX } = await import(
      "./index.js"
    );
    const domain = { chainId: 11155111, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const };
    // Around the int64 bounds too: values inside them take readingDigest's fast path.
    const int64Edges = [2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), -(2n ** 63n) - 1n];
    for (const value of [0n, -1n, 1n, INT256_MIN, INT256_MAX, -1850n, ...int64Edges]) {
      for (const n of [0n, 1n, 2n ** 63n - 1n, 2n ** 63n, UINT64_MAX]) {
        const r = {
          deviceId: `0x${"ab".repeat(32)}` as const,
          feedId: `0x${"cd".repeat(32)}` as const,
          value,
          timestamp: n,
          sequence: n,
        };
        expect(readingDigest(r, domain)).toBe(readingDigestReference(r, domain));
      }
    }
  });
});

describe("readingDigest with @noble/hashes' Keccak (the device agent's: it imports reading.ts alone, not hash-wasm)", () => {
  it("equals viem's general EIP-712 encoder, for several domains", async () => {
    const { readingDigest, readingDigestReference, setReadingKeccak, UINT64_MAX } = await import(
      "./index.js"
    );
    const { keccak_256 } = await import("@noble/hashes/sha3.js");
    const { createKeccak } = await import("hash-wasm");
    setReadingKeccak({ bytes: keccak_256, hex: (d) => Buffer.from(keccak_256(d)).toString("hex") });
    try {
      const domains = [
        { chainId: 11155111, registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const },
        { chainId: 31337n, registry: `0x${"e7".repeat(20)}` as const },
        { chainId: 2n ** 200n, registry: `0x${"0a".repeat(20)}` as const },
      ];
      for (const domain of domains)
        for (const value of [0n, -1850n, 2n ** 255n - 1n]) {
          const r = {
            deviceId: `0x${"ab".repeat(32)}` as const,
            feedId: `0x${"cd".repeat(32)}` as const,
            value,
            timestamp: 1764400000n,
            sequence: UINT64_MAX,
          };
          expect(readingDigest(r, domain)).toBe(readingDigestReference(r, domain));
        }
      // A registry with a wrong EIP-55 checksum (mixed or all upper case) is refused, as viem refuses it.
      const r = {
        deviceId: `0x${"ab".repeat(32)}` as const,
        feedId: `0x${"cd".repeat(32)}` as const,
        value: 1n,
        timestamp: 1n,
        sequence: 1n,
      };
      for (const registry of [
        "0x5fbDB2315678afecb367f032d93F642f64180aa3",
        `0x${"AB".repeat(20)}`,
      ] as const) {
        expect(() => readingDigestReference(r, { chainId: 1, registry })).toThrow();
        expect(() => readingDigest(r, { chainId: 1, registry })).toThrow(/not an address/);
      }
    } finally {
      const k = await createKeccak(256);
      setReadingKeccak({
        bytes: (d) => k.init().update(d).digest("binary"),
        hex: (d) => k.init().update(d).digest("hex"),
      });
    }
  });
});

describe("isLowSP256", () => {
  it("agrees with @noble/curves on random and edge r||s", async () => {
    const { isLowSP256 } = await import("./signature.js");
    const { p256 } = await import("@noble/curves/nist.js");
    const n = p256.Point.CURVE().n;
    const word = (v: bigint) => Buffer.from(v.toString(16).padStart(64, "0"), "hex");
    const reference = (r: bigint, s: bigint) => r >= 1n && r < n && s >= 1n && s <= n / 2n;
    const edges = [0n, 1n, n / 2n, n / 2n + 1n, n - 1n, n, 2n ** 256n - 1n];
    const cases: [bigint, bigint][] = [];
    for (const r of edges) for (const s of edges) cases.push([r, s]);
    for (let i = 0; i < 200; i++) {
      const rand = () =>
        BigInt(`0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}`);
      cases.push([rand(), rand()]);
    }
    for (const [r, s] of cases) {
      expect(isLowSP256(Buffer.concat([word(r), word(s)])), `r=${r} s=${s}`).toBe(reference(r, s));
    }
    expect(isLowSP256(new Uint8Array(63))).toBe(false);
  });
});
