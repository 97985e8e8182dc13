import type { Hex } from "viem";

/** A reading accepted by the bridge, as stored: everything needed to rebuild its leaf and verify it. */
export type StoredReading = {
  id: string;
  deviceId: Hex;
  feedId: Hex;
  value: string;
  timestamp: string;
  sequence: string;
  /** The signature in its on-chain form (P-256: r||s; secp256k1: r||s||v). */
  signature: Hex;
  curve: "p256" | "secp256k1";
  receivedAt: number;
};

/** A batch cut from the queue, not yet known to be committed. */
export type PendingBatch = { seq: number; ids: string[] };

export type CommittedBatch = {
  root: Hex;
  ids: string[];
  txHash: Hex;
  blockNumber: string;
  gasUsed: string;
  committedAt: number;
};

/**
 * Where accepted readings live until they are committed, and after. Every implementation makes
 * the replay check and the enqueue one atomic step, and cuts batches so that a batch cut but not
 * recorded as committed is handed out again (same ids, same root) after a crash.
 */
export interface ReadingStore {
  readonly durable: boolean;
  /**
   * Accept a reading unless its sequence is at or below the device's highest accepted one
   * ("replay") or more than MAX_SEQUENCE_GAP above it ("gap": refused, nothing changes).
   */
  accept(reading: StoredReading, deviceName: string): Promise<AcceptOutcome>;
  /** The batch in flight if there is one, else a new batch of up to `max` queued readings, else null. */
  nextBatch(max: number): Promise<PendingBatch | null>;
  /** Record a pending batch as committed; its readings point at the root from now on. */
  completeBatch(batch: PendingBatch, committed: CommittedBatch): Promise<void>;
  getReadings(ids: string[]): Promise<(StoredReading | null)[]>;
  /** The root a reading was committed under, or null while it waits. */
  rootOf(id: string): Promise<Hex | null>;
  getBatch(root: Hex): Promise<CommittedBatch | null>;
  queueDepth(): Promise<number>;
  close(): Promise<void>;
}

export type AcceptOutcome = "queued" | "replay" | "gap";

/**
 * How far one reading's sequence may jump above the device's highest accepted one (a new device:
 * above 0). Gaps up to it are normal (lost readings, restarts); a larger jump, such as a sequence
 * near 2^64, would leave the device no room for later readings, so it is refused and changes
 * nothing. 2^32 is about 136 years of one reading per second.
 */
export const MAX_SEQUENCE_GAP = 1n << 32n;

/** The lowest highest-accepted sequence from which `seq` is within MAX_SEQUENCE_GAP, padded. */
export const gapFloor = (seq: bigint) => padSequence(seq > MAX_SEQUENCE_GAP ? seq - MAX_SEQUENCE_GAP : 0n);

/** Sequence numbers compare as fixed-width decimal strings (uint64 fits 20 digits; Lua numbers are doubles). */
export const padSequence = (seq: string | bigint) => seq.toString().padStart(20, "0");

export const readingId = (deviceName: string, sequence: bigint | string) =>
  `${deviceName}:${sequence.toString()}`;
