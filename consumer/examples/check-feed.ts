// A consumer's check of a deployed fleet (docs/DEPLOY.md, "A consumer"): fetch a feed's latest
// committed reading with its proof from the bridge, verify it on-chain, and read the value the
// bridge pushed through the feed's Chainlink aggregator, refusing a stale one.
//   npx tsx consumer/examples/check-feed.ts --bridge-url <url> --rpc-url <url> --oracle <0x..>
//     --aggregator <0x..> --feed <name> [--max-age <s>] [--wait-sec <s>]
import { parseArgs } from "node:util";
import { type Address, createPublicClient, http } from "viem";
import {
  BridgeRequestError,
  fetchFeedLatest,
  ReadingNotCommittedError,
  type ServedReading,
  sensorFeedAggregatorAbi,
  verifyReadingOnChain,
} from "../index.js";

const { values: v } = parseArgs({
  options: {
    "bridge-url": { type: "string" },
    "rpc-url": { type: "string" },
    oracle: { type: "string" },
    aggregator: { type: "string" },
    feed: { type: "string" },
    "max-age": { type: "string", default: "3600" },
    "wait-sec": { type: "string", default: "60" },
  },
});
const need = (k: keyof typeof v): string => {
  const x = v[k];
  if (typeof x !== "string" || !x) {
    console.error(`check-feed: --${k} is required`);
    process.exit(2);
  }
  return x;
};
const bridgeUrl = need("bridge-url");
const feed = need("feed");
const oracle = need("oracle") as Address;
const aggregator = need("aggregator") as Address;
const maxAge = BigInt(need("max-age"));
const publicClient = createPublicClient({ transport: http(need("rpc-url")) });
const progress = (m: string) => process.stderr.write(`  ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  // The bridge commits every batch.intervalMs and pushes on deviation or heartbeat: wait for both.
  const deadline = Date.now() + Number(need("wait-sec")) * 1000;
  let served: ServedReading | undefined;
  progress(`fetching the latest committed reading of ${feed} from ${bridgeUrl}`);
  while (!served) {
    try {
      served = await fetchFeedLatest({ bridgeUrl, feed });
    } catch (err) {
      if (!(err instanceof BridgeRequestError && err.status === 404) || Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
  if (served.status !== "committed") throw new ReadingNotCommittedError(served.id);
  progress(`verifying reading ${served.id} on-chain at ${oracle}`);
  const root = await verifyReadingOnChain({ publicClient, oracle, served });

  progress(`reading the pushed value from the aggregator ${aggregator}`);
  let round: readonly [bigint, bigint, bigint, bigint, bigint] | undefined;
  while (!round) {
    try {
      round = await publicClient.readContract({
        address: aggregator,
        abi: sensorFeedAggregatorAbi,
        functionName: "latestRoundData",
      });
    } catch (err) {
      if (Date.now() > deadline) throw err; // SensorFeedsNoValue: has the bridge's push run?
      await sleep(1000);
    }
  }
  const [roundId, answer, , updatedAt] = round;
  const { timestamp: now } = await publicClient.getBlock();
  const age = now - updatedAt;
  if (age > maxAge) throw new Error(`the pushed value is ${age} s old, more than --max-age ${maxAge}`);
  console.log(
    `${feed}: reading ${served.id} (value ${served.reading.value}) verified on-chain in batch ${root}; pushed value ${answer} (round ${roundId}, ${age} s old)`,
  );
} catch (err) {
  const e = err as { shortMessage?: string; message?: string; name?: string };
  console.error(`check-feed: ${e.shortMessage ?? e.message ?? String(err)}${e.name ? ` [${e.name}]` : ""}`);
  process.exit(1);
}
