import { SensorOracleError } from "../../protocol/errors.js";

/** An updateFeeds transaction was mined but reverted as a whole (e.g. out of gas). */
export class FeedUpdateRevertedError extends SensorOracleError {
  override name = "FeedUpdateRevertedError" as const;
  readonly txHash: string;
  constructor(txHash: string) {
    super("The feed update reverted.", { details: `tx ${txHash}` });
    this.txHash = txHash;
  }
}
