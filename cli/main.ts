// sensor-oracle: one command per fleet task. Progress goes to stderr, the one-line result to
// stdout; every failure is one line on stderr and exit code 1 (2 for a usage error). Secrets
// (PINs, the operator's key) come from files or the environment, never from the command line.
import { SensorOracleError } from "../protocol/index.js";
import { UsageError } from "./args.js";
import { agentRun } from "./commands/agent.js";
import { brokerConfig } from "./commands/broker.js";
import { caInit } from "./commands/ca.js";
import { deviceList, deviceRevoke, deviceStatus } from "./commands/device.js";
import { deviceEnroll } from "./commands/device-enroll.js";
import { deviceRotate } from "./commands/device-rotate.js";
import { tokenCheck } from "./commands/token.js";

const USAGE = `usage: sensor-oracle <command> [options]

  ca init        --dir <fleet> [--name <fleet name>] [--rpc-url <url> --chain-id <n> --registry <0x..> --operator-key-file <file>]
                 [--bridge-url <http://bridge:port>]
  broker config  --dir <fleet> --port <port> [--host <name>] [--bridge-cn <cn>[,<cn>...]]
  device enroll  --dir <fleet> --curve p256|secp256k1 --label <key label>
                 --module <pkcs11 .so> --token-label <label> --pin-file <file>
  device enroll  --dir <fleet> --curve p256|secp256k1 --software   (development: keys in files)
  device rotate  --dir <fleet> --name <device name> --label <new key label>
                 --module <pkcs11 .so> --token-label <label> --pin-file <file>
  device revoke  --dir <fleet> --name <device name> [--since <unix seconds>]
  device list    --dir <fleet> [--bridge-url <url>]
  device status  --dir <fleet> --name <device name> [--bridge-url <url>]
  agent run      --config <fleet>/agents/<name>.json --url <mqtts://host:port> [--feed <name>] [--count <n>] [--interval-ms <ms>]
  token check    --module <pkcs11 .so> (--token-label <l> | --token-serial <s>) (--pin-file <f> | --pin-env <VAR>)
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<string>> = {
  "ca init": caInit,
  "broker config": brokerConfig,
  "device enroll": deviceEnroll,
  "device rotate": deviceRotate,
  "device revoke": deviceRevoke,
  "device list": deviceList,
  "device status": deviceStatus,
  "agent run": agentRun,
  "token check": tokenCheck,
};

const [command, sub, ...rest] = process.argv.slice(2);
const run = COMMANDS[`${command} ${sub}`];
if (!command || command === "help" || command === "--help") {
  console.log(USAGE);
  process.exit(0);
}
if (!run) {
  console.error(`sensor-oracle: unknown command "${[command, sub].filter(Boolean).join(" ")}"\n${USAGE}`);
  process.exit(2);
}
try {
  console.log(await run(rest));
  process.exit(0);
} catch (err) {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`sensor-oracle ${command} ${sub}: ${(err as Error).message}`);
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
