import type { Hex } from "viem";
import { ReadingNotCommittedError } from "./errors.js";
import type { ServedReading } from "./served-reading.js";

/** A reading as verifyReading takes it (SensorOracleStructs.Reading), integers as bigints for viem. */
export type OnChainReading = {
  deviceId: Hex;
  feedId: Hex;
  value: bigint;
  timestamp: bigint;
  sequence: bigint;
};

/** The arguments of verifyReading and tryVerifyReading, in their order: reading, signature, proof. */
export type VerifyReadingArgs = readonly [reading: OnChainReading, signature: Hex, proof: readonly Hex[]];

/**
 * The viem-ready arguments of `verifyReading(reading, signature, proof)` for a served reading: pass
 * them as `args` to readContract, simulateContract or writeContract (of your own contract taking
 * the same three). Throws ReadingNotCommittedError while the reading's batch is not committed.
 */
export function verifyReadingArgs(served: ServedReading): VerifyReadingArgs {
  if (served.status !== "committed" || !served.proof) throw new ReadingNotCommittedError(served.id);
  const r = served.reading;
  return [
    {
      deviceId: r.deviceId,
      feedId: r.feedId,
      value: BigInt(r.value),
      timestamp: BigInt(r.timestamp),
      sequence: BigInt(r.sequence),
    },
    served.signature,
    served.proof,
  ];
}
