// `npm run build` (and `npm pack`, through prepack): the package's JavaScript in dist/. Compiles
// the product code (tsconfig.build.json: no tests, testkit, bench or scripts) into a clean dist/,
// then copies the plain JavaScript modules the compiled code loads at run time (the worker
// threads, and the P-256 key helper they share) beside the modules that import them, and the
// fleet page's files (bridge/http/fleet-page/: HTML, script, style sheet), which fleet-page.ts reads.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const ASSETS = [
  "protocol/p256-key.mjs",
  "protocol/p256-key.d.mts",
  "bridge/verify-worker.mjs",
  "bridge/http/tree-worker.mjs",
  ...readdirSync("bridge/http/fleet-page").map((f) => `bridge/http/fleet-page/${f}`),
];

rmSync("dist", { recursive: true, force: true });
console.error("  compiling the product code into dist/ (tsconfig.build.json)");
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc");
const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);
for (const file of ASSETS) {
  const to = join("dist", file);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(file, to);
}
console.log(
  `dist/ built: the compiled product code and ${ASSETS.length} run-time files (modules, fleet page)`,
);
