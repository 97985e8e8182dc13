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

/**
 * The agent's state the config names: the outbox (`outbox.path` in the agent config, by default
 * `<config>.outbox.db` beside it, with SQLite's -wal and -shm files), a state folder, and the
 * sequence file of agents before the outbox.
 */
export type WipeConfig = RenewableConfig & { stateDir?: string; outbox?: string | { path?: string } };

/** How many readings are not yet acknowledged (the outbox answers this). */
export type PendingReadings = () => number | Promise<number>;

export type WipeOutcome = {
  keyObjects: number;
  keyFiles: number;
  stateFiles: number;
  /** Unacknowledged readings discarded (with discardUnacknowledged); Infinity when not countable. */
  discarded: number;
};

/** The outbox file of an agent with this config. */
export function outboxPath(config: WipeConfig, configFile: string): string {
  return (
    (typeof config.outbox === "string" ? config.outbox : config.outbox?.path) ?? `${configFile}.outbox.db`
  );
}

/** The state an agent with this config keeps (the outbox and its SQLite files, the sequence file). */
export function agentStatePaths(config: WipeConfig, configFile: string): string[] {
  const outbox = outboxPath(config, configFile);
  return [
    `${configFile}.sequence`,
    outbox,
    `${outbox}-wal`,
    `${outbox}-shm`,
    `${outbox}-journal`,
    config.stateDir,
  ].filter((p): p is string => typeof p === "string" && existsSync(p));
}

/**
 * The unacknowledged-reading count of the agent's outbox: device-agent/outbox.ts's Outbox `depth`
 * (readings stored and not yet removed by the bridge's `queued`) when that module is there; an
 * outbox whose count nobody can tell is taken as holding readings (the wipe is refused, not
 * guessed). Run it with the agent stopped.
 */
export async function outboxPending(config: WipeConfig, configFile: string): Promise<number> {
  const path = config.stateDir ?? outboxPath(config, configFile);
  if (!existsSync(path)) return 0;
  const modulePath = "./outbox.js";
  let m: {
    pendingCount?: (state: string) => number | Promise<number>;
    Outbox?: new (p: { path: string }) => { depth: number; close(): void };
  } = {};
  try {
    m = await import(modulePath);
  } catch {
    // no outbox module in this build
  }
  try {
    if (typeof m.pendingCount === "function") return await m.pendingCount(path);
    if (m.Outbox && statSync(path).isFile()) {
      const o = new m.Outbox({ path });
      try {
        return o.depth;
      } finally {
        o.close();
      }
    }
  } catch {
    // not an outbox it can read: counted below
  }
  const empty = statSync(path).isDirectory() ? readdirSync(path).length === 0 : statSync(path).size === 0;
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
  o: {
    configFile: string;
    pendingReadings?: PendingReadings;
    /**
     * Wipe even with readings unacknowledged, which are lost: for a device whose readings can no
     * longer be delivered (revoked, or refused at the broker after decommissioning).
     */
    discardUnacknowledged?: boolean;
  },
): Promise<WipeOutcome> {
  const pending = await (o.pendingReadings ?? (() => outboxPending(config, o.configFile)))();
  if (pending > 0 && !o.discardUnacknowledged)
    throw new WipeError(
      "unacknowledged",
      Number.isFinite(pending)
        ? `${pending} readings are not acknowledged yet: let the agent deliver them, then wipe.`
        : "The outbox is not empty and its unacknowledged readings cannot be counted: deliver them first.",
      { details: config.stateDir ?? outboxPath(config, o.configFile) },
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
  return { keyObjects, keyFiles, stateFiles, discarded: pending };
}
