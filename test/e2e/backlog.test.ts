import { describe, expect, it } from "vitest";
import { runBacklog } from "../../testkit/backlog.js";

const N = Number(process.env.SO_TEST_BACKLOG ?? 2_000);

/**
 * A device that kept its readings through a 5-minute outage sends the whole backlog in a random
 * order, some readings twice (their first ack lost), over real Mosquitto, Redis and the chain.
 * The bridge holds every reading it accepted, so it can tell a late reading it never had (queued,
 * however far below the highest sequence) from one it holds (replay): nothing is answered
 * unconfirmed/outside_window or sequence_conflict, and every reading is committed exactly once.
 * `npm run bench:backlog` runs the same scene (testkit/backlog.ts) with 10,000 readings.
 */
describe("a backlog after an outage, sent in any order", () => {
  it(`queues and commits each of ${N} readings exactly once, the duplicates answered replay`, async () => {
    const r = await runBacklog({ readings: N, deadlineMs: 40_000 });
    const seen = `seed ${r.seed}: ${JSON.stringify(r.counts)}`;
    console.log(
      `backlog of ${N} (${r.duplicates} duplicates, ${r.belowWindow} sent more than 1024 below the highest sent): ` +
        `delivered in ${(r.drainMs / 1000).toFixed(1)} s, committed in ${(r.commitMs / 1000).toFixed(1)} s in ${r.batches} batches; ${seen}`,
    );
    // The order does reach below the old replay window (1024 under the highest sequence).
    expect(r.belowWindow).toBeGreaterThan(N / 4);

    // Each reading answered queued exactly once; every other answer a replay.
    expect(Object.keys(r.counts).sort(), seen).toEqual(["queued", "rejected:replay"]);
    expect(r.queuedOnce, seen).toBe(N);
    expect(r.queuedTwice).toBe(0);
    expect(r.counts.queued).toBe(N);
    expect(r.counts["rejected:replay"]).toBe(r.published - N);
    expect(r.counts["rejected:replay"]).toBeGreaterThanOrEqual(r.duplicates);
    expect(r.delivered).toBe(N);

    // Committed: each reading in exactly one batch of the store, and on-chain as many as were sent.
    expect(r.lost).toBe(0);
    expect(r.committedTwice).toBe(0);
    expect(r.committedOnce).toBe(N);
    expect(r.rootsMatch).toBe(true);
    expect(r.onChainCount).toBe(N);
  }, 120_000);
});
