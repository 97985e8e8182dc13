/**
 * Where a measurement goes once it is taken: the agent's outbox. Every input (stdin lines, a
 * command on an interval, the local HTTP endpoint, the TypeScript API) hands readings to one
 * ReadingSink, which signs them, stores them durably and publishes them.
 */
export type TakenReading = {
  /** The feed's name as the agent config lists it (for example "temperature"). */
  feed: string;
  /** The value in the feed's on-chain units (already scaled by the feed's decimals). */
  value: bigint;
  /** When the measurement was taken, unix seconds (not when it is sent). */
  takenAt: bigint;
};

export interface ReadingSink {
  /**
   * Sign the reading, store it durably and queue it for publishing. Resolves with the sequence it
   * was given once it is on disk; rejects with a typed error (an unknown feed, a full outbox).
   */
  take(reading: TakenReading): Promise<{ sequence: bigint }>;
}
