import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { WipeError } from "../fleet/enrolment-errors.js";
import { Pkcs11Token } from "./pkcs11-signer.js";
import type { RenewableConfig } from "./renewal.js";

/**
 * `agent wipe`: a decommissioned device forgets what made it a fleet device. Once the last reading
 * is acknowledged, its key objects are destroyed in the token (C_DestroyObject) or its key files
 * overwritten and removed (development keys), and its state (the outbox, the sequence file), its
 * certificate and its config are removed. Refused, with nothing touched, while readings wait for
 * their acknowledgement: they would be lost, and a reading the key can no longer sign again.
 */

/** The agent's state the config names: the outbox folder (or file) and the sequence file. */
export type WipeConfig = RenewableConfig & { stateDir?: string; outbox?: string };

/** How many readings are not yet acknowledged (the outbox answers this). */
export type PendingReadings = () => number | Promise<number>;

export type WipeOutcome = { keyObjects: number; keyFiles: number; stateFiles: number };

/** The state an agent with this config keeps (agent run's sequence file, the outbox). */
export function agentStatePaths(config: WipeConfig, configFile: string): string[] {
  return [`${configFile}.sequence`, config.outbox, config.stateDir].filter(
    (p): p is string => typeof p === "string" && existsSync(p),
  );
}

/**
 * The unacknowledged-reading count of the agent's outbox: from device-agent/outbox.ts's
 * `pendingCount(stateDir)` when that module exists; an outbox whose count nobody can tell is
 * assumed to hold readings (the wipe is refused, not guessed).
 */
export async function outboxPending(config: WipeConfig): Promise<number> {
  const state = config.outbox ?? config.stateDir;
  if (!state || !existsSync(state)) return 0;
  const modulePath = "./outbox.js";
  try {
    const m = (await import(modulePath)) as { pendingCount?: (state: string) => number | Promise<number> };
    if (typeof m.pendingCount === "function") return await m.pendingCount(state);
  } catch {
    // no outbox module on this build
  }
  const empty = statSync(state).isDirectory() ? readdirSync(state).length === 0 : statSync(state).size === 0;
  return empty ? 0 : Number.POSITIVE_INFINITY;
}

/** Overwrite a file with zeros, then remove it (a key file's bytes do not linger in it). */
function shred(file: string): void {
  const size = statSync(file).size;
  writeFileSync(file, Buffer.alloc(size));
  rmSync(file);
}

export async function wipeDevice(
  config: WipeConfig,
  o: { configFile: string; pendingReadings?: PendingReadings },
): Promise<WipeOutcome> {
  const pending = await (o.pendingReadings ?? (() => outboxPending(config)))();
  if (pending > 0)
    throw new WipeError(
      "unacknowledged",
      Number.isFinite(pending)
        ? `${pending} readings are not acknowledged yet: let the agent deliver them, then wipe.`
        : "The outbox is not empty and its unacknowledged readings cannot be counted: deliver them first.",
      { details: config.outbox ?? config.stateDir ?? "" },
    );
  let keyObjects = 0;
  let keyFiles = 0;
  if (config.token) {
    const t = config.token;
    const token = Pkcs11Token.open({
      modulePath: t.modulePath,
      token: { label: t.tokenLabel },
      pin: { file: t.pinFile },
    });
    try {
      for (const label of new Set([t.readingLabel, t.tlsLabel])) keyObjects += token.destroyKey(label);
      // Keys of earlier rotations (renewal.ts names them <label>-r<stamp>) go too.
      const base = t.readingLabel.replace(/-r[0-9a-z]+$/, "");
      for (const label of new Set([base, `${base}-tls`])) keyObjects += token.destroyKey(label);
    } finally {
      token.close();
    }
  } else if (config.software) {
    const dir = dirname(config.software.keyFile);
    const named = [config.software.keyFile, config.software.readingKeyFile].filter(
      (f): f is string => !!f && existsSync(f),
    );
    // Development keys of earlier rotations sit beside them (tls-<stamp>.key, reading-<stamp>.key).
    const earlier = readdirSync(dir)
      .filter((f) => /^(tls|reading)(-[0-9a-z]+)?\.key$/.test(f))
      .map((f) => join(dir, f));
    for (const f of new Set([...named, ...earlier])) {
      shred(f);
      keyFiles++;
    }
  } else throw new WipeError("no_keys", "The agent config names neither a token nor software keys.");
  let stateFiles = 0;
  for (const p of agentStatePaths(config, o.configFile)) {
    rmSync(p, { recursive: true, force: true });
    stateFiles++;
  }
  for (const f of [config.certFile, o.configFile])
    if (existsSync(f) && basename(f) !== "") {
      rmSync(f);
      stateFiles++;
    }
  return { keyObjects, keyFiles, stateFiles };
}
