import { parseArgs } from "node:util";

/** A command line the CLI cannot act on: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** Progress goes to stderr; the one-line result of a command goes to stdout. */
export const progress = (msg: string) => process.stderr.write(`  ${msg}\n`);

export type Options = Record<string, string | boolean | undefined>;

/** A command's options, by name and type (unknown options are a usage error). */
export function args<S extends Record<string, "string" | "boolean">>(
  argv: string[],
  spec: S,
): { [K in keyof S]?: S[K] extends "boolean" ? boolean : string } {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.entries(spec).map(([k, type]) => [k, { type }])),
    strict: true,
  });
  return values as { [K in keyof S]?: S[K] extends "boolean" ? boolean : string };
}

/** A required string option. */
export function need(v: Options, key: string): string {
  const x = v[key];
  if (typeof x !== "string" || !x) throw new UsageError(`--${key} is required`);
  return x;
}

/**
 * Progress of `total` steps on stderr: `label n/total`, redrawn in place on a terminal, otherwise
 * a line every 2 s and at the end. Returns the function that counts one step done.
 */
export function progressCounter(label: string, total: number): () => void {
  const tty = process.stderr.isTTY === true;
  let done = 0;
  let shownAt = Date.now();
  if (total > 0 && tty) process.stderr.write(`  ${label} 0/${total}`);
  return () => {
    done += 1;
    if (tty) {
      process.stderr.write(`\r  ${label} ${done}/${total}${done === total ? "\n" : ""}`);
    } else if (done === total || Date.now() - shownAt >= 2_000) {
      shownAt = Date.now();
      progress(`${label} ${done}/${total}`);
    }
  };
}

/** `fn` over `items`, at most `limit` at once, results in the items' order. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
