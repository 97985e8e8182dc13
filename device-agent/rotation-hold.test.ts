import { createSecureContext } from "node:tls";
import { describe, expect, it } from "vitest";
import { readingDigest } from "../protocol/reading.js";
import { randomSecretKey, verifyReadingSignature } from "../protocol/signature.js";
import { decodeReadingMessage } from "../protocol/wire.js";
import { DeviceAgent } from "./agent.js";
import { OutboxError } from "./errors.js";
import { SoftwareSigner } from "./signer.js";

const domain = { chainId: 31337, registry: `0x${"11".repeat(20)}` as const };
const signer = () => new SoftwareSigner("p256", randomSecretKey("p256"), { warn: () => {} });

/** An agent that is never started: readings are signed and stored in its in-memory outbox only. */
function agentWith(s: SoftwareSigner): DeviceAgent {
  return new DeviceAgent({
    deviceName: "ab".repeat(32),
    signer: s,
    domain,
    mqtt: { url: "mqtts://127.0.0.1:1", secureContext: createSecureContext() },
    feeds: ["t"],
  });
}

/** Which of the keys signed the stored reading of `sequence`. */
function signedBy(agent: DeviceAgent, sequence: bigint, keys: Record<string, SoftwareSigner>): string {
  const entry = agent.outbox.page(sequence - 1n, 1)[0];
  if (!entry || entry.sequence !== sequence) throw new Error(`no reading ${sequence} in the outbox`);
  const { reading, signature } = decodeReadingMessage("ab".repeat(32), Buffer.from(entry.payload));
  const digest = readingDigest(reading, domain);
  const by = Object.entries(keys).filter(([, k]) =>
    verifyReadingSignature({ curve: "p256", publicKey: k.publicKey, digest, signature }),
  );
  return by.map(([name]) => name).join(",");
}

describe("a key rotation in the running agent (hold, then rotate from the rotation time)", () => {
  it("signs readings before the rotation time with the old key, holds later ones until the new key, then signs them with it", async () => {
    const [oldKey, newKey] = [signer(), signer()];
    const agent = agentWith(oldKey);
    try {
      agent.hold(1_000n);
      const before = await agent.take({ feed: "t", value: 1n, takenAt: 999n });
      let settled = false;
      const held = agent.take({ feed: "t", value: 2n, takenAt: 1_000n }).then((r) => {
        settled = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false); // waits for the new key, unsigned
      await agent.rotate({ signer: newKey, from: 1_000n });
      const after = await held;
      // A reading of a time before the rotation, handed in late: still the old key's.
      const late = await agent.take({ feed: "t", value: 3n, takenAt: 998n });
      const keys = { old: oldKey, new: newKey };
      expect(signedBy(agent, before.sequence, keys)).toBe("old");
      expect(signedBy(agent, after.sequence, keys)).toBe("new");
      expect(signedBy(agent, late.sequence, keys)).toBe("old");
    } finally {
      await agent.close();
    }
  });

  it("signs the held readings with the old key when the rotation is called off; refuses them when the agent closes", async () => {
    const [oldKey, other] = [signer(), signer()];
    const agent = agentWith(oldKey);
    agent.hold(1_000n);
    const held = agent.take({ feed: "t", value: 2n, takenAt: 1_000n });
    await new Promise((r) => setTimeout(r, 50));
    agent.release();
    const { sequence } = await held;
    expect(signedBy(agent, sequence, { old: oldKey, other })).toBe("old");
    expect(() => agent.hold(2_000n)).not.toThrow();
    expect(() => agent.hold(2_000n)).toThrow(OutboxError);
    const waiting = agent.take({ feed: "t", value: 4n, takenAt: 2_000n });
    await agent.close();
    await expect(waiting).rejects.toThrow(/stopping/);
  });
});
