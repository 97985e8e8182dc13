// npm run bench:archive — the two archives measured: writing a batch of 1,000 and of 10,000
// readings (one transaction each), and reading what a proof needs (the reading, its batch's
// readings in leaf order, the tree rebuilt and the proof taken). Writes docs/BENCHMARKS.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgresArchive } from "../bridge/archive/postgres-archive.js";
import { SqliteArchive } from "../bridge/archive/sqlite-archive.js";
import type { Archive } from "../bridge/archive/types.js";
import { toReading } from "../bridge/checks.js";
import type { StoredReading } from "../bridge/store/types.js";
import { buildReadingTree, readingProof } from "../protocol/index.js";
import { batchOf, readingsOf } from "../testkit/archive-readings.js";
import { startPostgres } from "../testkit/postgres.js";
import { envNumber, log, writeBenchSection } from "./report.js";

const ROUNDS = envNumber("BENCH_ARCHIVE_ROUNDS", 5);

type Row = {
  kind: string;
  write1k: number;
  write10k: number;
  proof: number;
  lookup: number;
  bytesPerReading: number;
};

async function measure(kind: string, archive: Archive): Promise<Row> {
  for (let i = 0; ; i++) {
    try {
      await archive.open();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  let dev = 0;
  const write = async (n: number) => {
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const readings = readingsOf(++dev, 1, n);
      const batch = batchOf(readings);
      const t = performance.now();
      await archive.writeBatch(batch, readings);
      times.push(performance.now() - t);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
  };
  const write1k = await write(1000);
  const write10k = await write(10_000);
  // A proof of a reading of a 1,000-reading batch, nothing cached: reading, batch, readings, tree.
  const proofTimes: number[] = [];
  const lookupTimes: number[] = [];
  for (let r = 0; r < 20; r++) {
    const id = `${(1 + (r % ROUNDS)).toString(16).padStart(64, "0")}:${1 + ((r * 37) % 1000)}`;
    const t = performance.now();
    const [reading] = await archive.getReadings([id]);
    lookupTimes.push(performance.now() - t);
    const batch = await archive.getBatch(reading?.root as `0x${string}`);
    const readings = (await archive.getReadings(batch?.ids ?? [])) as StoredReading[];
    readingProof(buildReadingTree(readings.map(toReading)), batch?.ids.indexOf(id) ?? 0);
    proofTimes.push(performance.now() - t);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const stats = await archive.stats();
  await archive.close();
  const row = {
    kind,
    write1k,
    write10k,
    proof: med(proofTimes),
    lookup: med(lookupTimes),
    bytesPerReading: stats.bytes ? stats.bytes / stats.readings : Number.NaN,
  };
  log(
    `  ${kind}: write 1,000 ${write1k.toFixed(0)} ms, 10,000 ${write10k.toFixed(0)} ms, proof ${row.proof.toFixed(0)} ms`,
  );
  return row;
}

const dir = mkdtempSync(join(tmpdir(), "so-bench-archive-"));
const pg = await startPostgres();
try {
  log(`archive: batches of 1,000 and 10,000 readings, ${ROUNDS} each (median), then 20 proofs`);
  const rows = [
    await measure("SQLite (node:sqlite, WAL, synchronous FULL)", new SqliteArchive(join(dir, "a.sqlite"))),
    await measure("PostgreSQL 15 (pg, local server, fsync on)", new PostgresArchive({ connection: pg.url })),
  ];
  const table = [
    `Measured by \`npm run bench:archive\` on ${new Date().toISOString().slice(0, 10)} (2-core machine shared with other jobs), median of ${ROUNDS} batches each, one transaction per batch; a proof: the reading by id, its batch's readings in leaf order, the tree rebuilt and the proof taken (nothing cached; the bridge keeps the last 64 trees).`,
    "",
    "| archive | write 1,000-reading batch | write 10,000-reading batch | reading by id | proof of a 1,000-reading batch | bytes per reading on disk |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.kind} | ${r.write1k.toFixed(0)} ms | ${r.write10k.toFixed(0)} ms | ${r.lookup.toFixed(2)} ms | ${r.proof.toFixed(0)} ms | ${r.bytesPerReading.toFixed(0)} |`,
    ),
  ].join("\n");
  console.log(table);
  const path = writeBenchSection("archive", "Archive (`npm run bench:archive`)", table);
  console.log(
    `archive bench done: SQLite ${rows[0]?.write10k.toFixed(0)} ms and PostgreSQL ${rows[1]?.write10k.toFixed(0)} ms per 10,000-reading batch; written to ${path}`,
  );
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
