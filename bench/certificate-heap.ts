/**
 * Heap per certificate of the bridge's certificate index: N device certificates issued by a
 * fleet CA into a folder, loaded by FleetCertificates, heapUsed + arrayBuffers (typed arrays'
 * memory is outside the heap) after a full GC before and after, divided by N. Run with --expose-gc:
 *   node --expose-gc --import tsx bench/certificate-heap.ts [N]
 * BENCH_CERT_HEAP_DIR keeps the folder (and the CA) for the next run.
 */
import "reflect-metadata";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FleetCertificates } from "../bridge/certificates.js";
import { createFleetCa } from "../pki/fleet-ca.js";

const N = Number(process.argv[2] ?? 20_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const keep = process.env.BENCH_CERT_HEAP_DIR;
const dir = keep ?? mkdtempSync(join(tmpdir(), "so-cert-heap-"));
const log = (s: string) => process.stderr.write(`${s}\n`);

const have = existsSync(join(dir, "ca.pem")) ? readdirSync(join(dir, "devices")).length : -1;
if (have !== N) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "devices"), { recursive: true });
  const ca = await createFleetCa();
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  log(`issuing ${N} device certificates into ${dir}`);
  for (let i = 0; i < N; i++) {
    const d = await ca.issueDevice({ curve: i % 2 ? "secp256k1" : "p256" });
    writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
    if ((i + 1) % 5000 === 0) log(`  ${i + 1} issued`);
  }
}
const caPem = readFileSync(join(dir, "ca.pem"), "utf8");

const heap = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const measure = (label: string, cacheBytes?: number) => {
  const h0 = heap();
  const certs = new FleetCertificates(caPem, cacheBytes === undefined ? {} : { cacheBytes });
  const t0 = performance.now();
  const files = certs.loadDirectory(join(dir, "devices"));
  const ms = performance.now() - t0;
  const h1 = heap();
  const per = (h1 - h0) / files;
  console.log(
    `${label}: ${files} certificates loaded in ${(ms / 1000).toFixed(1)} s, heap +${((h1 - h0) / 2 ** 20).toFixed(1)} MB, ${per.toFixed(0)} bytes a certificate`,
  );
  return { certs, per };
};
// The index alone (the parsed cache at its floor), then as the bridge runs it (32 MiB cache).
const index = measure("index only (cache at its minimum)", 0);
index.certs.size; // kept alive until measured
const full = measure("index + parsed cache (default 32 MiB)");
console.log(
  `certificate heap: ${index.per.toFixed(0)} B/certificate index only, ${full.per.toFixed(0)} B with the default cache (N=${N})`,
);
if (!keep) rmSync(dir, { recursive: true, force: true });
