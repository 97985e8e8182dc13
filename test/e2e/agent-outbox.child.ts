/**
 * A process that writes readings to an outbox until it is killed (device-agent/outbox.test.ts):
 * for each reading, a sequence from the outbox's reservation, then add(); once add() resolves
 * (committed, fsync'd) it prints `stored <sequence>`. Usage: agent-outbox.child.ts <db> <block>
 */
import { Outbox } from "../../device-agent/outbox.js";

const [path, block] = process.argv.slice(2) as [string, string];
const outbox = new Outbox({ path, sequenceBlock: Number(block) });
process.stdout.write(`open ${outbox.sequences.reservedUpTo}\n`);
for (;;) {
  // Several readings in one turn, as inputs deliver them: one transaction, one fsync.
  const batch = Array.from({ length: 1 + Math.floor(Math.random() * 8) }, () => outbox.sequences.take());
  await Promise.all(
    batch.map(async (sequence) => {
      await outbox.add({ sequence, payload: `{"sequence":"${sequence}","pad":"${"x".repeat(300)}"}` }, 0n);
      process.stdout.write(`stored ${sequence}\n`);
    }),
  );
}
