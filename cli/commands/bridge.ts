import { resolve } from "node:path";
import { args, UsageError } from "../args.js";

/**
 * `bridge run`: the bridge service (bridge/server.ts) in this process. It does not return: the
 * service exits 0 after draining on SIGTERM or SIGINT, and 1 (one line on stderr) if it cannot start.
 */
export async function bridgeRun(argv: string[]): Promise<string> {
  const v = args(argv, { config: "string" });
  const config = v.config ?? process.env.SO_CONFIG;
  if (!config) throw new UsageError("--config is required (or SO_CONFIG)");
  const { runBridge } = await import("../../bridge/server.js");
  runBridge(resolve(config));
  return new Promise<string>(() => {});
}
