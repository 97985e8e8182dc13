// `npm run build` (and `npm pack`, through prepack): the package's JavaScript in dist/. Compiles
// the product code (tsconfig.build.json: no tests, testkit, bench or scripts) into a clean dist/,
// then copies the plain JavaScript modules the compiled code loads at run time (the worker
// threads, and the P-256 key helper they share) beside the modules that import them, and the
// fleet page's files (bridge/http/fleet-page/: HTML, script, style sheet), which fleet-page.ts reads.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The folders tsconfig.build.json compiles: their plain JavaScript modules ship beside the compiled code. */
const PRODUCT = ["protocol", "bridge", "device-agent", "pki", "fleet", "chain", "cli", "consumer"];
const ASSETS = [
  ...PRODUCT.flatMap((dir) =>
    readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => /\.(mjs|d\.mts)$/.test(f) && !/\.test\./.test(f))
      .map((f) => join(dir, f)),
  ),
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
