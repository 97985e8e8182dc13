#!/usr/bin/env node
// sensor-oracle: one command per fleet task. Progress goes to stderr, the one-line result to
// stdout; every failure is one line on stderr and exit code 1 (2 for a usage error). Secrets
// (PINs, the operator's key) come from files or the environment, never from the command line.
import { SensorOracleError } from "../protocol/errors.js";
import { UsageError } from "./args.js";
import { COMMANDS, commandHelp, usage } from "./command-list.js";
import { packageVersion } from "./version.js";

const [first, second, ...rest] = process.argv.slice(2);
if (first === "--version" || first === "-V" || first === "version") {
  console.log(packageVersion());
  process.exit(0);
}
if (!first || first === "help" || first === "--help" || first === "-h") {
  // `help device enroll` is `device enroll --help`.
  const asked =
    first === "help"
      ? COMMANDS.find((c) => c.name === second || c.name === `${second} ${rest[0]}`)
      : undefined;
  console.log(asked ? commandHelp(asked) : usage(packageVersion()));
  process.exit(0);
}
// One-word commands (audit) take what follows them as options.
const single = COMMANDS.find((c) => c.name === first);
if (single && second !== undefined) rest.unshift(second);
const command = single ?? COMMANDS.find((c) => c.name === `${first} ${second}`);
if (!command) {
  // `sensor-oracle device --help`: the group's commands.
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length && (second === "--help" || second === "-h")) {
    console.log(group.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join("\n"));
    process.exit(0);
  }
  console.error(
    group.length && !second
      ? `sensor-oracle ${first}: which one? ${group.map((c) => c.name).join(", ")}`
      : `sensor-oracle: unknown command "${[first, second].filter(Boolean).join(" ")}" (sensor-oracle --help lists them)`,
  );
  process.exit(2);
}
if (rest.includes("--help") || rest.includes("-h")) {
  console.log(commandHelp(command));
  process.exit(0);
}
try {
  const run = await command.load();
  console.log(await run(rest));
  process.exit(0);
} catch (err) {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`sensor-oracle ${command.name}: ${(err as Error).message}`);
    process.exit(2);
  }
  if (err instanceof SensorOracleError) {
    const tag =
      err.name === "SensorOracleError" ? "" : ` [${err.name}${"code" in err ? `:${String(err.code)}` : ""}]`;
    console.error(`sensor-oracle: ${err.shortMessage}${err.details ? ` (${err.details})` : ""}${tag}`);
  } else {
    console.error(`sensor-oracle: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  process.exit(1);
}
