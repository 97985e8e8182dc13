import { type Address, BaseError, ContractFunctionRevertedError, type Hex, type PublicClient } from "viem";
import { sensorOracleConsumerAbi } from "./abi.js";
import { ReadingNotVerifiedError } from "./errors.js";
import type { ServedReading } from "./served-reading.js";
import { verifyReadingArgs } from "./verify-reading-args.js";

export type VerifyReadingOnChainParameters = {
  /** Any viem client that reads contracts on the fleet's chain. */
  publicClient: Pick<PublicClient, "readContract">;
  /** The fleet's SensorOracle address. */
  oracle: Address;
  /** The reading as the bridge served it (fetchReading, fetchFeedLatest). */
  served: ServedReading;
  /** Verify as of this block (default: latest). */
  blockNumber?: bigint;
};

/** The Merkle root of the committed batch the reading verified in. */
export type VerifyReadingOnChainReturnType = Hex;

/**
 * Verify a served reading on-chain, as a consumer contract would: `verifyReading` in an eth_call
 * (no transaction, no gas paid). Returns its batch's root; throws ReadingNotVerifiedError with the
 * contract's reason when it does not verify, ReadingNotCommittedError when it has no proof yet.
 */
export async function verifyReadingOnChain({
  publicClient,
  oracle,
  served,
  blockNumber,
}: VerifyReadingOnChainParameters): Promise<VerifyReadingOnChainReturnType> {
  const args = verifyReadingArgs(served);
  try {
    return await publicClient.readContract({
      address: oracle,
      abi: sensorOracleConsumerAbi,
      functionName: "verifyReading",
      args,
      ...(blockNumber === undefined ? {} : { blockNumber }),
    });
  } catch (err) {
    const reverted =
      err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : null;
    if (reverted instanceof ContractFunctionRevertedError) {
      throw new ReadingNotVerifiedError(reverted.data?.errorName, reverted.data?.args ?? [], err);
    }
    throw err;
  }
}
