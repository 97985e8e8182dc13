import type { CommittedBatch, HotStore, StoredReading } from "../store/types.js";
import { ArchiveBatchInvalidError } from "./errors.js";
import type { Archive } from "./types.js";

/** Where the archiver stands, for /readyz and /metrics. */
export type ArchiverState = {
  /** The archive answered its last call (opened at start, then each pass). */
  reachable: boolean;
  lagBatches: number;
  lagReadings: number;
  /** Age of the oldest final batch not yet archived. */
  lagSeconds: number;
  archivedBatches: number;
  trimmedReadings: number;
  writeFailures: number;
};

/** The steps of one batch, in order; a crash between any two is safe (tests stop there). */
export type ArchiveStep = "read" | "written" | "marked";

export type ArchiverParameters = {
  hot: HotStore;
  archive: Archive;
  /** How long an archived batch stays in Redis for fast proofs (default 60 s). */
  hotMs?: number;
  /** Archived readings are dropped after this many days (whole batches, by commit time); default: never. */
  retentionDays?: number | undefined;
  /**
   * Beyond this many readings (of final batches) waiting in Redis for the archive, new readings are
   * refused with `retry` until it catches up (default 1,000,000: about 1 GB of Redis at ~1 KB a reading).
   */
  maxLagReadings?: number;
  /** Pause between passes (default 1 s); the first retries of an unreachable archive back off up to 30 s. */
  intervalMs?: number;
  /** Test hook: awaited after each step of each batch (a test stops the archiver there, as a crash would). */
  afterStep?: (step: ArchiveStep, batch: CommittedBatch) => Promise<void>;
  onError?: (err: unknown) => void;
  onReady?: () => void;
};

/**
 * Moves committed, final batches from Redis to the archive, then trims them from Redis once their
 * hot period is over (with the readings their cut left out). Per batch: read its readings from Redis -> write batch and readings to the
 * archive (idempotent) -> mark it archived in Redis -> (after hotMs) trim it from Redis. Every
 * step is repeatable and the archive queue lives in Redis, so after a crash the archiver resumes
 * where it was: a batch written but not marked is written again (stored once); one marked but not
 * trimmed is trimmed later. While the archive is down, batches wait in Redis (the lag, bounded by
 * maxLagReadings); commits and ingest continue.
 */
export function startArchiver(p: ArchiverParameters): {
  state: ArchiverState;
  /** Whether the archive lags beyond maxLagReadings (new readings are then refused). */
  tooFarBehind(): boolean;
  /** One pass now (tests). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
} {
  const state: ArchiverState = {
    reachable: false,
    lagBatches: 0,
    lagReadings: 0,
    lagSeconds: 0,
    archivedBatches: 0,
    trimmedReadings: 0,
    writeFailures: 0,
  };
  const hotMs = p.hotMs ?? 60_000;
  const maxLag = p.maxLagReadings ?? 1_000_000;
  const intervalMs = p.intervalMs ?? 1_000;
  let opened = false;
  let adopted = false;
  let stopped = false;
  let failures = 0;
  let lastPrune = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const archiveOne = async (batch: CommittedBatch) => {
    // The readings the cut left out go with the batch (with their reasons): they leave Redis with
    // it. A cut whose readings were all left out (no ids, never on-chain) is archived the same way.
    const leftIds = (batch.leftOut ?? []).map((l) => l.id);
    const all = await p.hot.getReadings([...batch.ids, ...leftIds]);
    if (all.some((r) => r === null))
      throw new ArchiveBatchInvalidError(`Batch ${batch.root}: readings missing from Redis.`);
    const readings = all.slice(0, batch.ids.length) as StoredReading[];
    const leftOut = all.slice(batch.ids.length) as StoredReading[];
    await p.afterStep?.("read", batch);
    await p.archive.writeBatch(batch, readings, leftOut);
    await p.afterStep?.("written", batch);
    await p.hot.markArchived([batch], Date.now());
    await p.afterStep?.("marked", batch);
    state.archivedBatches += 1;
  };

  const pass = async () => {
    if (!opened) {
      await p.archive.open();
      opened = true;
      p.onReady?.();
    }
    if (!adopted) {
      await p.hot.adoptUnarchived();
      adopted = true;
    }
    for (;;) {
      const batches = await p.hot.archivable(16);
      for (const b of batches) {
        if (stopped) return;
        await archiveOne(b);
      }
      state.reachable = true;
      if (batches.length < 16) break;
    }
    for (;;) {
      const t = await p.hot.trimArchived(Date.now() - hotMs, 64);
      state.trimmedReadings += t.readings;
      if (t.batches < 64) break;
    }
    if (p.retentionDays !== undefined && Date.now() - lastPrune > 3_600_000) {
      await p.archive.prune(Date.now() - p.retentionDays * 86_400_000);
      lastPrune = Date.now();
    }
  };

  const measureLag = async () => {
    const lag = await p.hot.archiveLag();
    state.lagBatches = lag.batches;
    state.lagReadings = lag.readings;
    state.lagSeconds = lag.oldestCommittedAt === null ? 0 : (Date.now() - lag.oldestCommittedAt) / 1000;
  };

  const runOnce = async () => {
    try {
      await pass();
      failures = 0;
    } catch (err) {
      failures += 1;
      state.reachable = false;
      state.writeFailures += 1;
      p.onError?.(err);
    }
    await measureLag().catch(() => {});
  };

  const tick = () => {
    running = running.then(runOnce);
    void running.then(() => {
      // Failing: back off (1, 2, 4... up to 30 s) so a down archive is not hammered.
      const wait = failures ? Math.min(30_000, intervalMs * 2 ** Math.min(failures - 1, 5)) : intervalMs;
      if (!stopped) timer = setTimeout(tick, wait);
    });
  };
  tick();
  return {
    state,
    tooFarBehind: () => state.lagReadings > maxLag,
    runOnce: () => {
      running = running.then(runOnce);
      return running;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
