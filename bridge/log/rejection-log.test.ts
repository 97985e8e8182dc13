import { describe, expect, it } from "vitest";
import { RejectionLog } from "./rejection-log.js";

function capture() {
  const lines: string[] = [];
  return {
    lines,
    log: { warn: (obj: object, msg: string) => void lines.push(JSON.stringify({ ...obj, msg })) },
  };
}

describe("RejectionLog", () => {
  it("logs the first rejections of a window in full and the rest as one summary", () => {
    const { lines, log } = capture();
    const rl = new RejectionLog({ log: log as never, intervalMs: 1_000, detailedPerWindow: 3 });
    for (let i = 0; i < 100_000; i++) rl.record("aa".repeat(32), "malformed", "not JSON", 5_000);
    rl.flush(5_500);
    expect(lines).toHaveLength(4);
    const summary = JSON.parse(lines[3] as string);
    expect(summary.unlogged).toBe(99_997);
    expect(summary.reasons).toEqual({ malformed: 99_997 });
    expect(summary.devices).toEqual([{ device: "aa".repeat(32), count: 99_997 }]);
    expect(lines.join("\n").length).toBeLessThan(2_000);
  });

  it("starts a new detail budget in each window and writes no summary when nothing was held back", () => {
    const { lines, log } = capture();
    const rl = new RejectionLog({ log: log as never, intervalMs: 1_000, detailedPerWindow: 2 });
    rl.record("a", "replay", undefined, 0);
    rl.record("a", "replay", undefined, 10);
    rl.record("a", "replay", undefined, 1_500); // a new window
    rl.flush(1_600);
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      "reading rejected",
      "reading rejected",
      "reading rejected",
    ]);
  });
});
