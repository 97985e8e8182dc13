import type { Hex } from "viem";
import type { CurveName } from "../protocol/index.js";

/** What `agent run` reads: written by `device enroll`, updated by `device rotate`. */
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
    engine: string;
  };
  /** Software keys in files (development only): the P-256 TLS key, and a secp256k1 reading key. */
  software?: { keyFile: string; readingKeyFile?: string };
  chainId?: number;
  registry?: Hex;
};
