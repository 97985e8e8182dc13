/** An option of a command, as its help shows it and completion offers it. */
export type OptionHelp = {
  /** The flag without dashes, as the command's parseArgs spec names it. */
  name: string;
  /** What the value is (`<file>`, `p256|secp256k1`); none for a switch. */
  value?: string;
  /** The values completion offers (otherwise files, for a <file> or <dir> value). */
  choices?: readonly string[];
  help: string;
  required?: boolean;
};

/** A command: its words, a one-line summary, its options, and the module that runs it (loaded on use). */
export type CommandHelp = {
  name: string;
  summary: string;
  options: readonly OptionHelp[];
  /** Forms of the command line beyond the options (alternatives, examples). */
  notes?: readonly string[];
  load: () => Promise<(argv: string[]) => Promise<string>>;
};

const FLEET_DIR: OptionHelp = {
  name: "dir",
  value: "<dir>",
  help: "the fleet folder (written by ca init)",
  required: true,
};
const TOKEN: readonly OptionHelp[] = [
  { name: "module", value: "<file>", help: "the PKCS#11 module (.so) of the token" },
  { name: "token-label", value: "<label>", help: "the token's label" },
  { name: "pin-file", value: "<file>", help: "a file holding the user PIN (never the PIN itself)" },
];
const BRIDGE_URL: OptionHelp = {
  name: "bridge-url",
  value: "<url>",
  help: "the bridge's HTTP API, for the last reading seen (default: fleet.json's)",
};
const PASSPHRASE_FILE: OptionHelp = {
  name: "passphrase-file",
  value: "<file>",
  help: "the root CA key's passphrase (or SO_CA_PASSPHRASE, or a prompt)",
};
/** Where a device's settings bundle goes and what it names. */
const BUNDLE: readonly OptionHelp[] = [
  { name: "out", value: "<file>", help: "the device's settings bundle (default beside the fleet's devices)" },
  { name: "broker-url", value: "<mqtts://host:port>", help: "the broker the device connects to" },
  { name: "feeds", value: "<a,b>", help: "the feeds the device publishes" },
];
const DEVICE_KEYS: readonly OptionHelp[] = [
  { name: "label", value: "<key label>", help: "the key's label in the token" },
  ...TOKEN,
  { name: "software", help: "development only: keys in files, no token" },
  { name: "keys-dir", value: "<dir>", help: "with --software: the folder of the key files (0600)" },
];
const CURVE: OptionHelp = {
  name: "curve",
  value: "p256|secp256k1",
  choices: ["p256", "secp256k1"],
  help: "the reading key's curve",
  required: true,
};
const BROKER_PID_FILE: OptionHelp = {
  name: "broker-pid-file",
  value: "<file>",
  help: "Mosquitto's pid file: SIGHUP it to re-read the CRL without a restart",
};
const JSON_OUTPUT: OptionHelp = { name: "json", help: "print one JSON document instead of text" };

/**
 * Every command, in the order `--help` lists them. Command modules are imported only when their
 * command runs, so `--help`, `--version` and completion start without viem, x509 or PKCS#11.
 */
export const COMMANDS: readonly CommandHelp[] = [
  {
    name: "ca init",
    summary: "Create a fleet folder: root and issuing CA, and the chain it registers devices on.",
    options: [
      FLEET_DIR,
      { name: "name", value: "<fleet name>", help: 'the CAs\' common name (default "sensor-oracle fleet")' },
      { name: "rpc-url", value: "<url>", help: "the chain's JSON-RPC URL (then the three below too)" },
      { name: "chain-id", value: "<n>", help: "the chain id" },
      { name: "registry", value: "<0x..>", help: "the fleet's SensorOracle contract" },
      { name: "operator-key-file", value: "<file>", help: "the operator's private key (OPERATOR_ROLE)" },
      { name: "bridge-url", value: "<url>", help: "the bridge's HTTP API, kept in fleet.json" },
      PASSPHRASE_FILE,
      { name: "import-root", value: "<file>", help: "bring your own CA: its root certificate (PEM)" },
      { name: "import-issuing", value: "<file>", help: "bring your own CA: its issuing certificate (PEM)" },
      {
        name: "import-issuing-key",
        value: "<file>",
        help: "the issuing CA's key (without it, the fleet only registers certificates that CA issued)",
      },
    ],
    load: async () => (await import("./commands/ca.js")).caInit,
  },
  {
    name: "ca renew",
    summary:
      "Make a new issuing CA under the root (needs the root key's passphrase); the old one stays trusted.",
    options: [FLEET_DIR, PASSPHRASE_FILE],
    load: async () => (await import("./commands/ca.js")).caRenew,
  },
  {
    name: "broker config",
    summary: "Write Mosquitto's mTLS configuration, its certificate and the bridge's client certificate.",
    options: [
      FLEET_DIR,
      { name: "port", value: "<port>", help: "the broker's TLS port", required: true },
      { name: "host", value: "<name>", help: "the broker's host name (default localhost)" },
      { name: "bridge-cn", value: "<cn>[,<cn>...]", help: "the bridges' client certificate names" },
    ],
    load: async () => (await import("./commands/broker.js")).brokerConfig,
  },
  {
    name: "device enroll",
    summary: "Enrol a device: key in its token, certificate, registration on-chain, agent config.",
    options: [
      FLEET_DIR,
      {
        name: "curve",
        value: "p256|secp256k1",
        choices: ["p256", "secp256k1"],
        help: "the reading key's curve",
        required: true,
      },
      { name: "label", value: "<key label>", help: "the key's label in the token" },
      ...TOKEN,
      { name: "software", help: "development only: keys in files, no token" },
      {
        name: "csr",
        value: "<file>",
        help: "a request the device made itself (agent csr): review, certify, register",
      },
      { name: "name", value: "<device name>", help: "with --csr: the name the request must carry" },
      {
        name: "certificate",
        value: "<file>",
        help: "with --csr: a certificate an external CA issued for it",
      },
      {
        name: "manifest",
        value: "<file>",
        help: "many devices at once: CSRs, or factory keys and certificates",
      },
      { name: "manufacturer-ca", value: "<file>", help: "with --manifest: the pinned manufacturer CA" },
      { name: "manifest-signer", value: "<file>", help: "with --manifest: the certificate that signed it" },
      { name: "batch-size", value: "<n>", help: "with --manifest: devices per registerBatch at most" },
      ...BUNDLE,
    ],
    notes: [
      "sensor-oracle device enroll --dir <fleet> --curve p256 --software   (development: keys in files)",
      "sensor-oracle device enroll --dir <fleet> --csr <file> [--out <bundle.json>]   (the device made its key)",
      "sensor-oracle device enroll --dir <fleet> --manifest <file> [--manufacturer-ca <pem>]   (resumable)",
    ],
    load: async () => (await import("./commands/device-enroll.js")).deviceEnroll,
  },
  {
    name: "device rotate",
    summary: "Give a device a new key in its token: new certificate, key rotated on-chain.",
    options: [
      FLEET_DIR,
      { name: "name", value: "<device name>", help: "the device (64 hex digits)", required: true },
      { name: "label", value: "<key label>", help: "the new key's label in the token" },
      ...TOKEN,
      { name: "csr", value: "<file>", help: "the device made its new key and request itself (agent csr)" },
      {
        name: "queue",
        help: "ask the device for a new key: the enrolment endpoint tells it at its next contact",
      },
      ...BUNDLE,
    ],
    notes: [
      "sensor-oracle device rotate --dir <fleet> --name <device> --csr <file>   (rotation from the device)",
      "sensor-oracle device rotate --dir <fleet> --name <device> --queue   (the device rotates via enrol serve)",
    ],
    load: async () => (await import("./commands/device-rotate.js")).deviceRotate,
  },
  {
    name: "device revoke",
    summary: "Put devices' certificates on the CRL (re-issued once) and revoke them on-chain.",
    options: [
      FLEET_DIR,
      { name: "name", value: "<device name>", help: "the device (64 hex digits)" },
      { name: "names", value: "<a,b,c>", help: "many devices, comma-separated" },
      { name: "file", value: "<file>", help: "many devices, one name a line (# comments)" },
      {
        name: "since",
        value: "<unix seconds>",
        help: "readings signed from then on are refused (default now)",
      },
      BROKER_PID_FILE,
    ],
    notes: [
      "sensor-oracle device revoke --dir <fleet> --file revoke.txt --broker-pid-file /run/mosquitto/mosquitto.pid",
    ],
    load: async () => (await import("./commands/device.js")).deviceRevoke,
  },
  {
    name: "device decommission",
    summary: "Retire a device: revoked on-chain with a reason, CRL re-issued, out of its feeds, audited.",
    options: [
      FLEET_DIR,
      { name: "name", value: "<device name>", help: "the device (64 hex digits)", required: true },
      {
        name: "reason",
        value: "retired|compromised",
        choices: ["retired", "compromised"],
        help: "retired: revoked from now; compromised: from --since",
        required: true,
      },
      {
        name: "since",
        value: "<unix seconds|ISO time>",
        help: "with compromised: readings signed from then on are refused",
      },
      BROKER_PID_FILE,
      { name: "feeds-contract", value: "<0x..>", help: "SensorFeeds, to take the device out of its feeds" },
      { name: "feeds", value: "<a,b>", help: "its feeds (default: its settings bundle's)" },
    ],
    load: async () => (await import("./commands/device-decommission.js")).deviceDecommission,
  },
  {
    name: "enrol serve",
    summary: "Run the enrolment endpoint (EST over HTTPS): zero-touch enrolment, renewal, rotation.",
    options: [
      FLEET_DIR,
      { name: "port", value: "<port>", help: "the HTTPS port", required: true },
      { name: "host", value: "<address>", help: "the address to listen on (default 0.0.0.0)" },
      {
        name: "manifest",
        value: "<file>",
        help: "zero-touch: the allow-list of factory keys (a device enroll --manifest file)",
      },
      { name: "manufacturer-ca", value: "<file>", help: "zero-touch: the pinned manufacturer CA" },
      {
        name: "server-name",
        value: "<name,ip>",
        help: "names in the endpoint's certificate (default localhost,127.0.0.1)",
      },
      { name: "batch-size", value: "<n>", help: "devices per registerBatch at most (default 50)" },
      { name: "batch-window-ms", value: "<ms>", help: "how long a batch gathers devices (default 2000)" },
      { name: "valid-seconds", value: "<s>", help: "validity of the certificates it issues" },
      {
        name: "certificate-settle-ms",
        value: "<ms>",
        help: "a renewed certificate's time in devices/ before the registry names it (default 6000)",
      },
      { name: "broker-url", value: "<mqtts://host:port>", help: "the broker the devices connect to" },
      { name: "feeds", value: "<a,b>", help: "the feeds the devices publish" },
    ],
    notes: ["Runs until SIGTERM or SIGINT; without --manifest it serves renewal and rotation only."],
    load: async () => (await import("./commands/enrol-serve.js")).enrolServe,
  },
  {
    name: "device list",
    summary: "Every device: certificate, state on-chain, last reading the bridge saw.",
    options: [FLEET_DIR, BRIDGE_URL, JSON_OUTPUT],
    load: async () => (await import("./commands/device.js")).deviceList,
  },
  {
    name: "device status",
    summary: "One device: certificate, state on-chain, last reading the bridge saw.",
    options: [
      FLEET_DIR,
      { name: "name", value: "<device name>", help: "the device (64 hex digits)", required: true },
      BRIDGE_URL,
      JSON_OUTPUT,
    ],
    load: async () => (await import("./commands/device.js")).deviceStatus,
  },
  {
    name: "agent run",
    summary:
      "Run a device agent as a daemon: take readings from its inputs, sign them (token or software key), keep them in its outbox and publish them over mTLS until SIGTERM.",
    options: [
      {
        name: "config",
        value: "<file>",
        help: "the agent config (<fleet>/agents/<name>.json): keys, broker, feeds, inputs, outbox, health (docs/GATEWAY.md)",
        required: true,
      },
      { name: "url", value: "<mqtts://host:port>", help: "the broker (default: the config's brokerUrl)" },
      {
        name: "health-port",
        value: "<port>",
        help: "serve /healthz and /metrics on 127.0.0.1:<port> (default: the config's health.port; none without)",
      },
      {
        name: "simulate",
        value: "<n>",
        help: "demos and tests: sign n readings of a simulated random walk, wait for their answers, exit",
      },
      { name: "count", value: "<n>", help: "the former name of --simulate" },
      {
        name: "feed",
        value: "<name>",
        help: "with --simulate: the feed of the simulated readings (default demo/temperature)",
      },
      {
        name: "interval-ms",
        value: "<ms>",
        help: "with --simulate: time between readings (default 1000)",
      },
    ],
    notes: [
      "sensor-oracle agent run --config /etc/sensor-oracle/agent.json   (the daemon: inputs from the config, SIGTERM drains and exits 0)",
      "sensor-oracle agent run --config <file> --simulate 10 --interval-ms 500   (a demo: 10 simulated readings, then exit)",
    ],
    load: async () => (await import("./commands/agent.js")).agentRun,
  },
  {
    name: "agent keygen",
    summary: "On the device: make its keys in its token (or in files, for development).",
    options: [CURVE, ...DEVICE_KEYS],
    load: async () => (await import("./commands/agent-keys.js")).agentKeygen,
  },
  {
    name: "agent csr",
    summary: "On the device: a certificate request signed by its token, for device enroll --csr.",
    options: [
      CURVE,
      { name: "out", value: "<file>", help: "where the request (PEM) goes", required: true },
      { name: "name", value: "<device name>", help: "the device's name, when it has one already (rotation)" },
      ...DEVICE_KEYS,
    ],
    load: async () => (await import("./commands/agent-keys.js")).agentCsr,
  },
  {
    name: "agent install",
    summary: "On the device: turn the operator's settings bundle into the config agent run takes.",
    options: [
      { name: "bundle", value: "<file>", help: "the settings bundle device enroll wrote", required: true },
      { name: "config-dir", value: "<dir>", help: "where the agent's config goes", required: true },
      ...DEVICE_KEYS,
    ],
    load: async () => (await import("./commands/agent-keys.js")).agentInstall,
  },
  {
    name: "agent enrol",
    summary: "On the device: zero-touch enrolment with its factory key and manufacturer certificate.",
    options: [
      { name: "url", value: "<https://host:port>", help: "the enrolment endpoint", required: true },
      {
        name: "ca",
        value: "<file>",
        help: "the fleet CA chain the endpoint's certificate chains to",
        required: true,
      },
      {
        name: "factory-cert",
        value: "<file>",
        help: "the manufacturer certificate (and intermediates), PEM",
        required: true,
      },
      { name: "config-dir", value: "<dir>", help: "where the agent's config goes", required: true },
      ...DEVICE_KEYS,
    ],
    load: async () => (await import("./commands/enrol-agent.js")).agentEnrol,
  },
  {
    name: "agent renew",
    summary: "On the device: renew the certificate when due, or rotate the key the operator queued.",
    options: [
      { name: "config", value: "<file>", help: "the agent config", required: true },
      { name: "url", value: "<https://host:port>", help: "the enrolment endpoint (default: the config's)" },
      { name: "now", help: "renew now, whatever the certificate's age" },
      { name: "fraction", value: "<0..1>", help: "renew past this part of its life (default 0.667)" },
    ],
    load: async () => (await import("./commands/enrol-agent.js")).agentRenew,
  },
  {
    name: "agent wipe",
    summary: "On the device: destroy its keys and state once every reading is acknowledged.",
    options: [
      { name: "config", value: "<file>", help: "the agent config", required: true },
      {
        name: "discard-unacknowledged",
        help: "wipe even with readings the bridge never acknowledged (lost): a revoked device's",
      },
    ],
    load: async () => (await import("./commands/enrol-agent.js")).agentWipe,
  },
  {
    name: "audit",
    summary: "List the fleet's audit log and verify its hash chain (exit 1 at the first bad entry).",
    options: [FLEET_DIR, { name: "quiet", help: "verify only, print the one-line result" }],
    load: async () => (await import("./commands/audit.js")).auditCommand,
  },
  {
    name: "token check",
    summary: "Open a PKCS#11 token and log in: checks the module, the token and the PIN.",
    options: [
      { name: "module", value: "<file>", help: "the PKCS#11 module (.so) of the token", required: true },
      { name: "token-label", value: "<label>", help: "the token's label (or --token-serial)" },
      { name: "token-serial", value: "<serial>", help: "the token's serial number" },
      { name: "pin-file", value: "<file>", help: "a file holding the user PIN (or --pin-env)" },
      { name: "pin-env", value: "<VAR>", help: "an environment variable holding the user PIN" },
    ],
    load: async () => (await import("./commands/token.js")).tokenCheck,
  },
  {
    name: "bridge run",
    summary: "Run the bridge service until SIGTERM or SIGINT (SO_* variables override the file).",
    options: [{ name: "config", value: "<file>", help: "the bridge's JSON config (or SO_CONFIG)" }],
    notes: [
      'V8 limits as `npm run bridge` sets them: NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=4"',
    ],
    load: async () => (await import("./commands/bridge.js")).bridgeRun,
  },
  {
    name: "completion bash",
    summary: 'Print a bash completion script: eval "$(sensor-oracle completion bash)"',
    options: [],
    load: async () => (await import("./completion.js")).completionBash,
  },
];

/** The usage of every command, one or two lines each (`sensor-oracle --help`). */
export function usage(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `sensor-oracle ${version}: signed sensor readings from hardware keys to on-chain batches`,
    "",
    "usage: sensor-oracle <command> [options]",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "  sensor-oracle <command> --help   a command's options",
    "  sensor-oracle --version          the version",
    "",
    "Progress goes to stderr, the one-line result to stdout. Exit codes: 0 done, 1 failed, 2 usage.",
  ].join("\n");
}

/** One command's help: its synopsis, summary and options (`sensor-oracle device enroll --help`). */
export function commandHelp(c: CommandHelp): string {
  const flag = (o: OptionHelp) => `--${o.name}${o.value ? ` ${o.value}` : ""}`;
  const synopsis = c.options.map((o) => (o.required ? flag(o) : `[${flag(o)}]`)).join(" ");
  const width = Math.max(0, ...c.options.map((o) => flag(o).length)) + 2;
  return [
    `usage: sensor-oracle ${c.name} ${synopsis}`.trimEnd(),
    "",
    c.summary,
    ...(c.options.length ? ["", "options:"] : []),
    ...c.options.map((o) => `  ${flag(o).padEnd(width)}${o.help}${o.required ? " (required)" : ""}`),
    `  ${"--help".padEnd(width)}this help`,
    ...(c.notes?.length ? ["", ...c.notes] : []),
  ].join("\n");
}
