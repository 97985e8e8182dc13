// readingDigest with hash-wasm's Keccak (keccak-wasm.ts) for whoever loads the whole protocol.
import "./keccak-wasm.js";

export * from "./ack.js";
export * from "./certificate.js";
export * from "./errors.js";
export * from "./merkle.js";
export * from "./reading.js";
export * from "./reading-abi.js";
export * from "./signature.js";
export * from "./wire.js";
