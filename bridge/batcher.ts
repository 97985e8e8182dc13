import { hostname } from "node:os";
import {
  type Account,
  type Chain,
  encodeFunctionData,
  type Hex,
  keccak256,
  type PublicClient,
  stringToHex,
  type Transport,
  type WalletClient,
  zeroHash,
} from "viem";
import { sensorOracleAbi } from "../chain/abi.js";
import { buildReadingTree } from "../protocol/index.js";
import { toReading } from "./checks.js";
import type { Metrics } from "./metrics.js";
import type { InvalidReason, ReadingValidity } from "./reading-validity.js";
import { type CommittedBatch, latestPerFeed, type ReadingStore, type StoredReading } from "./store/types.js";
import { sendWithFeeBumping } from "./submitter.js";
import { withinTime } from "./time-limit.js";

export type BatcherParameters = {
  store: ReadingStore;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  batches: Hex;
  metrics: Metrics;
  maxBatchSize?: number;
  onCommitting?: (batch: { seq: number; root: Hex; readings: number }) => void;
  onCommitted?: (batch: CommittedBatch) => void;
  /**
   * At the cut, each reading is checked against the registry as it is then (synced to the chain's
   * head); one that no longer verifies is left out of the batch with its reason (CommittedBatch
   * `leftOut`), so that every committed reading verifies at commit time. Without it, none is checked.
   */
  validity?: ReadingValidity;
  onLeftOut?: (left: { id: string; reason: InvalidReason }[]) => void;
  /** A commit not mined after this long is sent again with higher fees (default 60 s). */
  stuckAfterMs?: number;
  /** Fee increase per replacement, percent (default 20; nodes require at least 10). */
  feeBumpPercent?: number;
  maxBumps?: number;
  receiptPollMs?: number;
  onFeeBump?: (label: string, maxFeePerGas: bigint) => void;
  /** Blocks after which a committed batch is final (default 2); until then reorgs are watched for. */
  confirmations?: number;
  onRecommitted?: (root: Hex, txHash: Hex) => void;
  /** Who this submitter is, for the lease (default: host and pid). */
  owner?: string;
  leaseTtlMs?: number;
  onError?: (err: unknown) => void;
};

/** The stored readings of these ids, all of them (a batch's readings never leave the store before it). */
async function loadReadings(p: BatcherParameters, ids: string[], label: string): Promise<StoredReading[]> {
  const readings = (await p.store.getReadings(ids)).filter((r): r is StoredReading => r !== null);
  if (readings.length !== ids.length) throw new Error(`${label}: readings missing from store`);
  return readings;
}

/** The Merkle root of the readings, and one transaction committing it, awaited. */
function commitOf(p: BatcherParameters, readings: StoredReading[], label: string) {
  const root = buildReadingTree(readings.map(toReading)).root as Hex;
  // Timestamps are checked safe integers (wire.ts), so Number arithmetic is exact here.
  const times = readings.map((r) => Number(r.timestamp));
  const fromTime = BigInt(times.reduce((a, b) => Math.min(a, b)));
  const toTime = BigInt(times.reduce((a, b) => Math.max(a, b)));
  return {
    root,
    send: async () => {
      const data = encodeFunctionData({
        abi: sensorOracleAbi,
        functionName: "commitBatch",
        args: [root, readings.length, fromTime, toTime],
      });
      const { hash, receipt } = await sendWithFeeBumping({ ...p, to: p.batches }, data, label);
      if (receipt.status !== "success") throw new Error(`commit of ${label} reverted (tx ${hash})`);
      return { hash, receipt };
    },
  };
}

/**
 * The readings of a cut that no longer verify against the registry, learnt up to the chain's head
 * now (a revocation or rotation dated back to before they were signed, mined after they were
 * accepted): left out, counted by reason.
 */
async function leaveOut(p: BatcherParameters, readings: StoredReading[]) {
  if (!p.validity) return [];
  await p.validity.sync();
  const invalid = await p.validity.checkAll(readings);
  const left = readings.flatMap((r) => {
    const reason = invalid.get(r.id);
    return reason ? [{ id: r.id, reason }] : [];
  });
  for (const l of left) p.metrics.countReason(p.metrics.leftOut, l.reason);
  if (left.length > 0) p.onLeftOut?.(left);
  return left;
}

/**
 * The record of a cut whose readings were all left out: nothing is committed, so its "root" is a
 * name for the cut (derived from its ids, the same after a crash), never on-chain, final at once.
 */
function leftOutCut(ids: string[], leftOut: CommittedBatch["leftOut"]): CommittedBatch {
  return {
    root: keccak256(stringToHex(`sensor-oracle:left-out:${ids.join(",")}`)),
    ids: [],
    leftOut: leftOut ?? [],
    txHash: zeroHash,
    blockNumber: "0",
    gasUsed: "0",
    committedAt: Date.now(),
  };
}

/**
 * Cut a batch from the store, leave out the readings that no longer verify (`validity`), commit
 * the Merkle root of the others, record it as committed. A batch the store hands out again after a
 * crash has the same ids and so the same root (unless a revocation meanwhile leaves more out);
 * committing a root twice is a no-op on-chain, so each reading ends in exactly one committed batch.
 */
export async function commitNextBatch(p: BatcherParameters): Promise<CommittedBatch | null> {
  const fence = await p.store.lease(p.owner ?? defaultOwner(), p.leaseTtlMs ?? 15_000);
  if (fence === null) return null; // another bridge is this chain's submitter
  const pending = await p.store.nextBatch(p.maxBatchSize ?? 1024, fence);
  if (!pending) return null;
  const cutAt = performance.now();
  const label = `batch ${pending.seq}`;
  const cut = await loadReadings(p, pending.ids, label);
  const left = await leaveOut(p, cut);
  const gone = new Set(left.map((l) => l.id));
  const readings = cut.filter((r) => !gone.has(r.id));
  if (readings.length === 0) {
    const none = leftOutCut(pending.ids, left);
    await p.store.completeBatch(pending, none, fence, []);
    await p.store.updateBatch(none, true);
    return none;
  }
  const { root, send } = commitOf(p, readings, label);
  p.onCommitting?.({ seq: pending.seq, root, readings: readings.length });
  const { hash, receipt } = await send();
  const committed: CommittedBatch = {
    root,
    ids: readings.map((r) => r.id),
    ...(left.length > 0 ? { leftOut: left } : {}),
    txHash: hash,
    blockNumber: receipt.blockNumber.toString(),
    gasUsed: receipt.gasUsed.toString(),
    committedAt: Date.now(),
  };
  await p.store.completeBatch(pending, committed, fence, latestPerFeed(readings));
  p.metrics.batchesCommitted += 1;
  p.metrics.readingsCommitted += readings.length;
  p.metrics.gasUsed += receipt.gasUsed;
  p.metrics.batchSize.observe(readings.length);
  p.metrics.commitLatency.observe((performance.now() - cutAt) / 1000);
  p.onCommitted?.(committed);
  return committed;
}

/**
 * Reorgs: a committed batch stays unfinalized until `confirmations` blocks bury it. Each one is
 * checked on-chain; if its root is no longer committed (its transaction fell out), it is committed
 * again (same ids, same root: still exactly once). Only the lease holder does this.
 */
export async function reconcileBatches(p: BatcherParameters): Promise<number> {
  const fence = await p.store.lease(p.owner ?? defaultOwner(), p.leaseTtlMs ?? 15_000);
  if (fence === null) return 0;
  const unfinal = await p.store.unfinalizedBatches();
  if (unfinal.length === 0) return 0;
  const head = await p.publicClient.getBlockNumber();
  const confirmations = BigInt(p.confirmations ?? 2);
  let recommitted = 0;
  for (const b of unfinal) {
    if (b.ids.length === 0) {
      await p.store.updateBatch(b, true); // a cut with every reading left out: nothing on-chain
      continue;
    }
    const onChain = await p.publicClient.readContract({
      address: p.batches,
      abi: sensorOracleAbi,
      functionName: "getBatch",
      args: [b.root],
    });
    if (onChain.committedAt === 0n) {
      const label = `batch ${b.root}`;
      const { root, send } = commitOf(p, await loadReadings(p, b.ids, label), label);
      if (root !== b.root) throw new Error(`batch ${b.root}: its readings now give root ${root}`);
      const { hash, receipt } = await send();
      await p.store.updateBatch(
        {
          ...b,
          txHash: hash,
          blockNumber: receipt.blockNumber.toString(),
          gasUsed: receipt.gasUsed.toString(),
        },
        false,
      );
      p.metrics.recommits += 1;
      p.metrics.gasUsed += receipt.gasUsed;
      recommitted += 1;
      p.onRecommitted?.(b.root, hash);
    } else if (head - BigInt(b.blockNumber) >= confirmations) {
      await p.store.updateBatch(b, true);
    }
  }
  return recommitted;
}

const defaultOwner = () => `${hostname()}:${process.pid}`;

/** Cut and commit a batch every `intervalMs` from cut to cut (and at once again while batches are full). */
export function startBatcher(p: BatcherParameters & { intervalMs: number }): {
  stop(): Promise<void>;
  flush(): Promise<void>;
} {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const drain = async () => {
    try {
      await reconcileBatches(p);
    } catch (err) {
      p.metrics.commitFailures += 1;
      p.onError?.(err);
    }
    for (;;) {
      try {
        const b = await commitNextBatch(p);
        // Stopping: the batch in flight is finished; the rest waits for the next submitter.
        const cut = b ? b.ids.length + (b.leftOut?.length ?? 0) : 0;
        if (stopped || !b || cut < (p.maxBatchSize ?? 1024)) return;
        // Full batches one after the other (a backlog, a sustained high rate): keep finality
        // moving too, or no batch becomes final (and leaves Redis for the archive) until the
        // queue is empty. Measured in the soak at 1,000/s with 4,096-reading batches: 100,000
        // readings piled up in Redis without this.
        await reconcileBatches(p);
      } catch (err) {
        p.metrics.commitFailures += 1;
        p.onError?.(err);
        return;
      }
    }
  };
  // The batch window is kept from cut to cut: the next cut is `intervalMs` after this one began,
  // or at once if committing took longer, not `intervalMs` after the commit was mined (which
  // made a reading that just missed a cut wait a whole commit plus a window: measured p99 3.1 s
  // with one-second windows and blocks, against a target of 3 s).
  const tick = () => {
    const began = Date.now();
    running = running.then(drain);
    void running.then(() => {
      if (!stopped) timer = setTimeout(tick, Math.max(0, p.intervalMs - (Date.now() - began)));
    });
  };
  timer = setTimeout(tick, p.intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      // Give the submitter lease up at once, so that another bridge (or this one restarted)
      // commits without waiting for it to expire (~13 s measured before).
      // Bounded: a Redis that does not answer must not hold the shutdown (the lease then expires).
      await withinTime(
        p.store.releaseLease(p.owner ?? defaultOwner()).catch(() => false),
        2_000,
        () => false,
      );
    },
    async flush() {
      running = running.then(drain);
      await running;
    },
  };
}
