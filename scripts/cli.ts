// sensor-oracle: one command per fleet task. Every failure is explained in one line, exit code 1
// (2 for a usage error). Secrets (PINs) come from files or the environment, never the command line.
import { parseArgs } from "node:util";
import { Pkcs11Token } from "../device-agent/pkcs11-signer.js";
import { SensorOracleError } from "../protocol/index.js";

const USAGE = `usage: sensor-oracle <command> [options]

commands:
  token check   --module <path> (--token-label <label> | --token-serial <serial>) (--pin-file <file> | --pin-env <VAR>)
                Open the token, log in, list its keys' count; fails with the reason.
`;

function fail(message: string, code = 1): never {
  console.error(`sensor-oracle: ${message}`);
  process.exit(code);
}

async function tokenCheck(args: string[]): Promise<string> {
  const { values } = parseArgs({
    args,
    options: {
      module: { type: "string" },
      "token-label": { type: "string" },
      "token-serial": { type: "string" },
      "pin-file": { type: "string" },
      "pin-env": { type: "string" },
    },
  });
  if (!values.module) fail("token check: --module is required", 2);
  const token = values["token-label"]
    ? { label: values["token-label"] }
    : values["token-serial"]
      ? { serial: values["token-serial"] }
      : fail("token check: --token-label or --token-serial is required", 2);
  const pin = values["pin-file"]
    ? { file: values["pin-file"] }
    : values["pin-env"]
      ? { env: values["pin-env"] }
      : fail("token check: --pin-file or --pin-env is required (never the PIN itself)", 2);
  process.stderr.write(`opening token in ${values.module}...\n`);
  const t = Pkcs11Token.open({ modulePath: values.module, token, pin });
  const result = `token "${t.label}" (serial ${t.serial}) opened and logged in`;
  t.close();
  return result;
}

const [command, sub, ...rest] = process.argv.slice(2);
try {
  if (command === "token" && sub === "check") console.log(await tokenCheck(rest));
  else if (!command || command === "help" || command === "--help") console.log(USAGE);
  else fail(`unknown command "${[command, sub].filter(Boolean).join(" ")}"\n${USAGE}`, 2);
} catch (err) {
  if (err instanceof SensorOracleError) {
    fail(
      `${err.shortMessage}${err.details ? ` (${err.details})` : ""} [${err.name}${"code" in err ? `:${String(err.code)}` : ""}]`,
    );
  }
  fail(err instanceof Error ? err.message : String(err));
}
