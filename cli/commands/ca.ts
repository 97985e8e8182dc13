import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Hex } from "viem";
import { readPrivateKey } from "../../bridge/config.js";
import { createFleetCa, FLEET_CA_FILES, saveFleetCa } from "../../pki/fleet-ca.js";
import { SensorOracleError } from "../../protocol/index.js";
import { args, need, progress } from "../args.js";
import type { FleetConfig } from "../fleet-config.js";

/** `ca init`: a new fleet folder with its root and issuing CA, and the chain it registers on. */
export async function caInit(argv: string[]): Promise<string> {
  const v = args(argv, {
    dir: "string",
    name: "string",
    "bridge-url": "string",
    "rpc-url": "string",
    "chain-id": "string",
    registry: "string",
    "operator-key-file": "string",
  });
  const dir = resolve(need(v, "dir"));
  if (existsSync(join(dir, "fleet.json"))) throw new SensorOracleError(`A fleet already exists in ${dir}.`);
  const name = v.name ?? "sensor-oracle fleet";
  progress(`creating root and issuing CA "${name}" in ${dir}`);
  const ca = await createFleetCa({ commonName: name });
  await saveFleetCa(ca, join(dir, "ca"));
  const cfg: FleetConfig = { name };
  if (v["rpc-url"]) {
    cfg.chain = {
      rpcUrl: v["rpc-url"],
      chainId: Number(need(v, "chain-id")),
      registry: need(v, "registry") as Hex,
      operatorKeyFile: resolve(need(v, "operator-key-file")),
    };
    readPrivateKey(cfg.chain.operatorKeyFile); // fail now, not at the first enrolment
  }
  for (const sub of ["devices", "agents"]) mkdirSync(join(dir, sub), { recursive: true });
  if (v["bridge-url"]) cfg.bridgeUrl = new URL(v["bridge-url"]).toString().replace(/\/$/, "");
  writeFileSync(join(dir, "fleet.json"), `${JSON.stringify(cfg, null, 2)}\n`);
  return `fleet "${name}" created in ${dir} (keep ca/${FLEET_CA_FILES.rootKey} offline)${cfg.chain ? `, registry ${cfg.chain.registry}` : ""}`;
}
