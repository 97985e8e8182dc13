import { readFileSync, writeFileSync } from "node:fs";

/** Progress, on stderr (stdout carries the tables). */
export const log = (m: string) => process.stderr.write(`${m}\n`);

/** A benchmark setting from the environment (`BENCH_...`), or its default. */
export const envNumber = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

/**
 * Writes `table` under `## title` into docs/BENCHMARKS.md, between the `<!-- bench:<name> begin -->`
 * and `end` markers (replacing what stood there), or at the end when the markers are not there yet.
 * Without the file: `ifMissing` as its text when given, else the read fails. Returns the path.
 */
export function writeBenchSection(name: string, title: string, table: string, ifMissing?: string): string {
  const path = "docs/BENCHMARKS.md";
  const begin = `<!-- bench:${name} begin -->`;
  const end = `<!-- bench:${name} end -->`;
  let doc: string;
  try {
    doc = readFileSync(path, "utf8");
  } catch (err) {
    if (ifMissing === undefined) throw err;
    doc = ifMissing;
  }
  const block = `${begin}\n## ${title}\n\n${table}\n${end}`;
  doc = doc.includes(begin)
    ? doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), block)
    : `${doc.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, doc);
  return path;
}
