import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BridgeResponseError,
  BridgeUnreachableError,
  feedIdOf,
  fetchReading,
  parseServedReading,
  ReadingNotCommittedError,
  type ServedReading,
  verifyReadingArgs,
} from "../../consumer/index.js";
import { freePort } from "../../testkit/ports.js";

// The consumer client's own checks, without a bridge: what it accepts from one, the arguments it
// builds, and the errors it gives for a bridge that is down or silent (real sockets). Against a real
// bridge and chain: test/e2e/consumer-kit.test.ts.

const h32 = (b: string) => `0x${b.repeat(64)}` as const;
const served: ServedReading = {
  id: `${"a".repeat(64)}:7`,
  status: "committed",
  reading: {
    deviceId: h32("a"),
    feedId: feedIdOf("cold-room-7/temperature"),
    value: "-1250",
    timestamp: "1750000000",
    sequence: "7",
  },
  signature: `0x${"11".repeat(65)}`,
  curve: "secp256k1",
  batch: { root: h32("b"), txHash: h32("c"), blockNumber: "12" },
  proof: [h32("d"), h32("e")],
};

describe("the consumer client", () => {
  it("turns a served reading into verifyReading's arguments, integers as bigints", () => {
    const [reading, signature, proof] = verifyReadingArgs(
      parseServedReading(JSON.parse(JSON.stringify(served))),
    );
    expect(reading).toEqual({
      deviceId: h32("a"),
      feedId: served.reading.feedId,
      value: -1250n,
      timestamp: 1_750_000_000n,
      sequence: 7n,
    });
    expect(signature).toBe(served.signature);
    expect(proof).toEqual(served.proof);
  });

  it("refuses a queued reading's arguments: it has no proof yet", () => {
    const { batch: _b, proof: _p, ...queued } = served;
    expect(() => verifyReadingArgs(parseServedReading({ ...queued, status: "queued" }))).toThrow(
      ReadingNotCommittedError,
    );
  });

  it.each([
    ["reading.value", { reading: { ...served.reading, value: "12.5" } }],
    ["reading.deviceId", { reading: { ...served.reading, deviceId: "0x1234" } }],
    ["reading.timestamp", { reading: { ...served.reading, timestamp: "-1" } }],
    ["signature", { signature: "not hex" }],
    ["proof", { proof: undefined }],
    ["proof", { proof: ["0x12"] }],
    ["batch.root", { batch: undefined }],
    ["status", { status: "pending" }],
  ])("names %s when a bridge serves it malformed", (field, change) => {
    const err = (() => {
      try {
        parseServedReading({ ...served, ...change });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BridgeResponseError);
    expect((err as BridgeResponseError).field).toBe(field);
  });

  describe("against a bridge that is down or silent", () => {
    let silent: Server;
    let silentPort: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silentPort = await freePort();
      silent = createServer((s) => sockets.push(s)); // accepts, never answers
      await new Promise<void>((r) => silent.listen(silentPort, "127.0.0.1", r));
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });

    it("gives BridgeUnreachableError for a closed port", async () => {
      const port = await freePort();
      await expect(
        fetchReading({ bridgeUrl: `http://127.0.0.1:${port}`, id: served.id }),
      ).rejects.toBeInstanceOf(BridgeUnreachableError);
    });

    it("gives BridgeUnreachableError after timeoutMs for a bridge that never answers", async () => {
      const started = Date.now();
      await expect(
        fetchReading({ bridgeUrl: `http://127.0.0.1:${silentPort}`, id: served.id, timeoutMs: 300 }),
      ).rejects.toBeInstanceOf(BridgeUnreachableError);
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });
});
