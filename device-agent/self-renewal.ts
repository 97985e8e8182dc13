import { readFileSync } from "node:fs";
import type { SecureContext } from "node:tls";
import type { AgentLog, DeviceAgent } from "./agent.js";
// Types only: the enrolment code (CSRs, EST, certificates through @peculiar/x509) is loaded at the
// first check, not with the agent (about 20 MB of RSS an agent that never renews does not pay).
import type { RenewableConfig, RenewalOutcome } from "./renewal.js";
import type { ReadingSigner } from "./signer.js";

/** The keys a config names, opened for the running agent (cli/commands/agent.ts opens them). */
export type OpenedKeys = {
  signer: ReadingSigner;
  secureContext: SecureContext;
  notAfter: Date;
  close(): void;
};

export type SelfRenewalParameters = {
  agent: DeviceAgent;
  /** The agent's config file: read before each check, rewritten by a rotation (new key names). */
  configFile: string;
  /** The keys and TLS identity of a config (after a renewal: the new certificate; after a rotation: the new key). */
  openKeys(config: RenewableConfig): Promise<OpenedKeys>;
  /** How often to ask the enrolment endpoint (default hourly). */
  everyMs?: number;
  log: AgentLog;
  /** Told of each renewal or rotation (the health endpoint's and the metrics' certificate expiry). */
  onCertificate?(notAfter: Date): void;
};

export type SelfRenewal = {
  /** Ask the endpoint now (the timer does every `everyMs`); one check at a time. */
  check(): Promise<RenewalOutcome | undefined>;
  /** Stop the timer, wait for a check under way, and close the keys opened by a rotation (again: nothing more). */
  stop(): Promise<void>;
};

/**
 * Renewal and rotation done by the running agent itself, not by a separate `agent renew` whose
 * rotation the agent would learn of only at its restart: every reading the agent signed with
 * its old key after the registry's rotation time would then be refused. Here a rotation holds the
 * readings of the new key's time (DeviceAgent.hold) while the endpoint certifies the new key and
 * the registry rotates to it from that time, then switches the agent's key (DeviceAgent.rotate):
 * readings of earlier times keep the old key, so every reading verifies against the registry's key
 * of its time. A renewal (same key) reconnects with the new certificate. A failed check is logged
 * and tried again at the next; the agent keeps publishing with what it has.
 */
export function startSelfRenewal(p: SelfRenewalParameters): SelfRenewal {
  const opened: OpenedKeys[] = [];
  let running: Promise<RenewalOutcome | undefined> | undefined;
  const once = async (): Promise<RenewalOutcome | undefined> => {
    const config = JSON.parse(readFileSync(p.configFile, "utf8")) as RenewableConfig;
    if (!config.enrolUrl) return undefined;
    let outcome: RenewalOutcome;
    try {
      const { renewIfDue } = await import("./renewal.js");
      outcome = await renewIfDue(config, { configFile: p.configFile, rotationHold: p.agent });
    } catch (err) {
      p.log.warn(
        { device: config.deviceName, err: (err as Error).message },
        "certificate renewal or key rotation failed; the agent keeps its key and tries again later",
      );
      return undefined;
    }
    if (outcome.action === "none") return outcome;
    let keys: OpenedKeys;
    try {
      keys = await p.openKeys(outcome.config);
    } catch (err) {
      // The registry already has the new key: readings held for it would be refused if signed with
      // the old one. Nothing better is left than to say so loudly and release them.
      p.agent.release();
      p.log.error(
        { device: config.deviceName, err: (err as Error).message },
        "the new key or certificate cannot be opened; readings from now on will be refused until the agent restarts with them",
      );
      return outcome;
    }
    opened.push(keys);
    if (outcome.action === "rotated") {
      await p.agent.rotate({
        signer: keys.signer,
        secureContext: keys.secureContext,
        from: BigInt(outcome.rotatedAt as number),
      });
      p.log.info(
        { device: config.deviceName, rotatedAt: outcome.rotatedAt },
        "key rotated as the operator asked: readings from the rotation time on are signed with the new key",
      );
    } else {
      await p.agent.rotate({ secureContext: keys.secureContext });
      p.log.info(
        { device: config.deviceName, nextRenewal: outcome.nextRenewal.toISOString() },
        "certificate renewed; reconnected with it",
      );
    }
    p.onCertificate?.(keys.notAfter);
    return outcome;
  };
  const check = () => {
    running ??= once()
      .catch((err: unknown) => {
        // Never a rejection from the timer: the daemon keeps running.
        p.log.error({ device: p.agent.deviceName, err: (err as Error).message }, "renewal check failed");
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void check(), p.everyMs ?? 3_600_000);
  timer.unref();
  return {
    check,
    async stop() {
      clearInterval(timer);
      await running;
      for (const k of opened.splice(0)) k.close(); // once, whoever calls stop again
    },
  };
}
