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
