import { readFileSync } from "node:fs";

/**
 * This package's version, from its package.json: one folder up from cli/ when run from the
 * sources (tsx), two from dist/cli/ when installed.
 */
export function packageVersion(): string {
  for (const up of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "sensor-oracle" && pkg.version) return pkg.version;
    } catch {
      // not this folder
    }
  }
  return "unknown";
}
