import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Hex } from "viem";
import { readPrivateKey } from "../../bridge/config.js";
import { audit } from "../../fleet/audit-log.js";
import { KeyFileError } from "../../pki/errors.js";
import { createFleetCa, FLEET_CA_FILES, FleetCa, loadFleetCa, saveFleetCa } from "../../pki/fleet-ca.js";
import { CA_PASSPHRASE_ENV, readPrivateKeyFile, writePrivateKeyFile } from "../../pki/key-file.js";
import { SensorOracleError } from "../../protocol/index.js";
import { args, need, type Options, progress } from "../args.js";
import type { FleetConfig } from "../fleet-config.js";

/** Read a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((done) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) write.call(rl, question);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      done(answer);
    });
  });
}

/**
 * The root CA key's passphrase: from --passphrase-file (owner-only), $SO_CA_PASSPHRASE, or a prompt
 * when a terminal is attached (twice, when making a new one). Never from the command line.
 */
export async function caPassphrase(v: Options, opts: { confirm?: boolean } = {}): Promise<string> {
  const file = v["passphrase-file"];
  if (typeof file === "string") {
    const p = readPrivateKeyFile(resolve(file)).split("\n")[0]?.trim() ?? "";
    if (!p) throw new KeyFileError("passphrase_missing", "The passphrase file is empty.", { details: file });
    return p;
  }
  const env = process.env[CA_PASSPHRASE_ENV];
  if (env) return env;
  if (process.stdin.isTTY) {
    const p = await promptHidden("root CA passphrase: ");
    if (opts.confirm && (await promptHidden("again: ")) !== p)
      throw new KeyFileError("passphrase_missing", "The two passphrases differ.");
    if (p) return p;
  }
  throw new KeyFileError(
    "passphrase_missing",
    `The root CA key is kept encrypted: give its passphrase with --passphrase-file, $${CA_PASSPHRASE_ENV} or at the prompt.`,
  );
}

/** `ca init`: a new fleet folder with its root and issuing CA (or one made elsewhere), and the chain it registers on. */
export async function caInit(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    "bridge-url": "string",
    "rpc-url": "string",
    "chain-id": "string",
    registry: "string",
    "operator-key-file": "string",
    "passphrase-file": "string",
    "import-root": "string",
    "import-issuing": "string",
    "import-issuing-key": "string",
  });
  const dir = resolve(need(v, "dir"));
  if (existsSync(join(dir, "fleet.json"))) throw new SensorOracleError(`A fleet already exists in ${dir}.`);
  const name = v.name ?? "sensor-oracle fleet";
  const imported = v["import-root"] || v["import-issuing"] || v["import-issuing-key"];
  if (imported && !v["import-issuing-key"]) {
    // An issuing CA whose key stays in its own CA (step-ca, Vault PKI, an HSM): the fleet folder
    // holds its certificates only; device certificates come from that CA (device enroll --certificate).
    const root = readFileSync(need(v, "import-root"), "utf8");
    const issuing = readFileSync(need(v, "import-issuing"), "utf8");
    progress(`trusting the external issuing CA ${v["import-issuing"]} (its key stays with that CA)`);
    const caDir = join(dir, "ca");
    mkdirSync(caDir, { recursive: true });
    writeFileSync(join(caDir, FLEET_CA_FILES.root), root);
    writeFileSync(join(caDir, FLEET_CA_FILES.issuing), issuing);
    writeFileSync(join(caDir, FLEET_CA_FILES.chain), `${issuing.trim()}\n${root.trim()}\n`);
    writeFileSync(join(caDir, FLEET_CA_FILES.revoked), "[]\n");
  } else if (imported) {
    // Bring your own CA: a root and an issuing CA made elsewhere (OpenSSL, step-ca, Vault PKI).
    progress(`importing the issuing CA ${need(v, "import-issuing")} (root ${need(v, "import-root")})`);
    const ca = await FleetCa.fromExternal({
      rootPem: readFileSync(need(v, "import-root"), "utf8"),
      issuingPem: readFileSync(need(v, "import-issuing"), "utf8"),
      issuingKeyPem: readPrivateKeyFile(need(v, "import-issuing-key")),
    });
    await saveFleetCa(ca, join(dir, "ca"));
  } else {
    const passphrase = await caPassphrase(v, { confirm: true });
    progress(`creating root and issuing CA "${name}" in ${dir} (root key encrypted)`);
    const ca = await createFleetCa({ commonName: name });
    await saveFleetCa(ca, join(dir, "ca"), { rootPassphrase: passphrase });
  }
  const cfg: FleetConfig = { name };
  if (v["rpc-url"]) {
    cfg.chain = {
      rpcUrl: v["rpc-url"],
      chainId: Number(need(v, "chain-id")),
      registry: need(v, "registry") as Hex,
      operatorKeyFile: resolve(need(v, "operator-key-file")),
    };
    readPrivateKeyFile(cfg.chain.operatorKeyFile); // owner-only, or refused
    readPrivateKey(cfg.chain.operatorKeyFile); // fail now, not at the first enrolment
  }
  for (const sub of ["devices", "agents"]) mkdirSync(join(dir, sub), { recursive: true });
  if (v["bridge-url"]) cfg.bridgeUrl = new URL(v["bridge-url"]).toString().replace(/\/$/, "");
  writeFileSync(join(dir, "fleet.json"), `${JSON.stringify(cfg, null, 2)}\n`);
  audit(dir, { action: "ca_created", details: { name, issuer: imported ? "external" : "own" } });
  return imported
    ? `fleet "${name}" created in ${dir} with the imported issuing CA${v["import-issuing-key"] ? "" : " (its key kept by that CA)"}${cfg.chain ? `, registry ${cfg.chain.registry}` : ""}`
    : `fleet "${name}" created in ${dir} (root key encrypted in ca/${FLEET_CA_FILES.rootKey}: keep it offline)${cfg.chain ? `, registry ${cfg.chain.registry}` : ""}`;
}

/**
 * `ca renew`: a new issuing CA under the fleet's root (needs the root key's passphrase). The old
 * issuing certificate stays in the CA bundle, so certificates it issued keep chaining.
 */
export async function caRenew(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", "passphrase-file": "string" });
  const dir = resolve(need(v, "dir"));
  const caDir = join(dir, "ca");
  const rootPassphrase = await caPassphrase(v);
  const old = await loadFleetCa(caDir, { rootPassphrase });
  progress("making a new issuing CA key and certificate under the root");
  const renewed = await old.renewIssuingCa();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  copyFileSync(join(caDir, FLEET_CA_FILES.issuing), join(caDir, `issuing-ca.${stamp}.pem`));
  writePrivateKeyFile(
    join(caDir, `issuing-ca.${stamp}.key`),
    readPrivateKeyFile(join(caDir, FLEET_CA_FILES.issuingKey)),
  );
  await saveFleetCa(renewed, caDir, { rootPassphrase });
  // The bundle peers trust: the new issuing CA, the old one (its certificates are still out), the root.
  writeFileSync(
    join(caDir, FLEET_CA_FILES.chain),
    `${renewed.intermediatePem}\n${old.intermediatePem}\n${renewed.rootPem}\n`,
  );
  audit(dir, { action: "issuing_ca_renewed" });
  return `issuing CA renewed in ${caDir} (the old one kept in the CA bundle for the certificates it issued)`;
}
