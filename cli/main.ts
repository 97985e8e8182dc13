// sensor-oracle: one command per fleet task. Progress goes to stderr, the one-line result to
// stdout; every failure is one line on stderr and exit code 1 (2 for a usage error). Secrets
// (PINs, the operator's key) come from files or the environment, never from the command line.
import { SensorOracleError } from "../protocol/index.js";
import { UsageError } from "./args.js";
import { agentRun } from "./commands/agent.js";
import { agentCsr, agentInstall, agentKeygen } from "./commands/agent-keys.js";
import { auditCommand } from "./commands/audit.js";
import { brokerConfig } from "./commands/broker.js";
import { caInit, caRenew } from "./commands/ca.js";
import { deviceList, deviceRevoke, deviceStatus } from "./commands/device.js";
import { deviceEnroll } from "./commands/device-enroll.js";
import { deviceRotate } from "./commands/device-rotate.js";
import { tokenCheck } from "./commands/token.js";

const USAGE = `usage: sensor-oracle <command> [options]

  ca init        --dir <fleet> [--name <fleet name>] [--passphrase-file <file>] [--import-root <pem> --import-issuing <pem> --import-issuing-key <pem>] [--rpc-url <url> --chain-id <n> --registry <0x..> --operator-key-file <file>]
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
  device enroll  --dir <fleet> --csr <file> [--curve p256|secp256k1] [--name <device name>] [--certificate <file from an external CA>]
                 [--out <bundle.json>] [--broker-url <mqtts://host:port>] [--feeds <a,b>]
  device enroll  --dir <fleet> --manifest <file> [--manufacturer-ca <pem>] [--manifest-signer <pem>] [--batch-size <n>] [--broker-url <url>] [--feeds <a,b>]
  device rotate  --dir <fleet> --name <device name> --csr <file>   (the device made its new key and CSR: agent csr --name)
  ca renew       --dir <fleet> [--passphrase-file <file>]   (a new issuing CA; needs the root key's passphrase)
  agent keygen   --curve p256|secp256k1 (--label <l> --module <.so> --token-label <l> --pin-file <f> | --software --keys-dir <dir>)
  agent csr      --curve p256|secp256k1 --out <file.csr> [--name <device name>] (token options | --software --keys-dir <dir>)
  agent install  --bundle <settings bundle> --config-dir <dir> (token options with --label | --software --keys-dir <dir>)
  audit          --dir <fleet> [--quiet]   (lists the audit log and verifies its hash chain)
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
  "ca renew": caRenew,
  "agent keygen": agentKeygen,
  "agent csr": agentCsr,
  "agent install": agentInstall,
};

/** Commands of one word: what follows the word is their options. */
const SINGLE_COMMANDS: Record<string, (argv: string[]) => Promise<string>> = {
  audit: auditCommand,
};

const [command, sub, ...rest] = process.argv.slice(2);
const single = command ? SINGLE_COMMANDS[command] : undefined;
const run = single ? (argv: string[]) => single(sub ? [sub, ...argv] : argv) : COMMANDS[`${command} ${sub}`];
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
