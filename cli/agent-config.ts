import type { Hex } from "viem";
import type { CurveName } from "../protocol/index.js";

/** What `agent run` reads: written by `device enroll`, updated by `device rotate`; the daemon's settings added by hand. */
export type AgentConfig = {
  deviceName: string;
  curve: CurveName;
  certFile: string;
  caFile: string;
  /** Keys in a PKCS#11 token. */
  token?: {
    modulePath: string;
    tokenLabel: string;
    pinFile: string;
    readingLabel: string;
    tlsLabel: string;
    /** The OpenSSL pkcs11 engine; found for the machine's architecture when absent (device-agent/engine.ts). */
    engine?: string;
  };
  /** Software keys in files (development only): the P-256 TLS key, and a secp256k1 reading key. */
  software?: { keyFile: string; readingKeyFile?: string };
  chainId?: number;
  registry?: Hex;
  /** The fleet's enrolment endpoint (EST), for renewal and rotation started by the device (agent run does both itself; agent renew once). */
  enrolUrl?: string;
  /** How often the running agent asks the enrolment endpoint whether to renew or rotate (default 3,600 s; 0: never). */
  renewal?: { checkEverySeconds?: number };
  /** The broker (`--url` overrides it). */
  brokerUrl?: string;
  /**
   * The feeds the device takes readings for: names, or { name, decimals | scale, unit, min, max,
   * rounding, feedId } (device-agent/feeds.ts).
   */
  feeds?: (string | { name: string; [setting: string]: unknown })[];
  /** Where readings come from: stdin, commands on an interval, a local HTTP endpoint (device-agent/inputs/). */
  inputs?: unknown;
  /** The outbox (docs/AGENT.md). */
  outbox?: {
    /** Default: `<config>.outbox.db` beside the config file. */
    path?: string;
    /** Default: 256 MiB. */
    quotaBytes?: number;
    /** Sequences start above this one (after a lost counter: the bridge's /devices/:name shows the last). */
    startSequenceAbove?: string;
  };
  publishing?: {
    maxInFlight?: number;
    ackTimeoutMs?: number;
    reconnectMinMs?: number;
    reconnectMaxMs?: number;
  };
  /** Health and metrics on 127.0.0.1:<port> (GET /healthz, GET /metrics); none when absent (`--health-port` overrides). */
  health?: { port: number; host?: string };
  /** Warn this many days before the certificate expires (default 30). */
  certificateWarnDays?: number;
  /** On SIGTERM, wait at most this long for the answers to readings in flight (default 5,000 ms). */
  shutdownDrainMs?: number;
};
