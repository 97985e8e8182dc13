// Installs hash-wasm's WebAssembly Keccak-256 as readingDigest's (protocol/reading.ts) when
// imported: the protocol's index imports it, so the bridge's hot path hashes with it. It measured
// 2.3 µs for a reading's two hashes against 15.7 µs for @noble/hashes and 8.5 µs for the native
// `keccak` addon (object set-up per call); one instance, used synchronously (init, update,
// digest), so never interleaved.
import { createKeccak } from "hash-wasm";
import { setReadingKeccak } from "./reading.js";

const keccakWasm = await createKeccak(256);
setReadingKeccak({
  bytes: (data) => keccakWasm.init().update(data).digest("binary"),
  hex: (data) => keccakWasm.init().update(data).digest("hex"),
});
