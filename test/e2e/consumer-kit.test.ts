import { readFileSync } from "node:fs";
import type { Abi, Address, Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { sensorFeedsAbi } from "../../chain/abi.js";
import {
  BridgeRequestError,
  feedIdOf,
  fetchFeedLatest,
  fetchReading,
  ReadingNotCommittedError,
  ReadingNotVerifiedError,
  type ServedReading,
  sensorFeedAggregatorAbi,
  sensorFeedsReaderAbi,
  verifyReadingArgs,
  verifyReadingOnChain,
} from "../../consumer/index.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import { freePort } from "../../testkit/ports.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

// docs/CONSUMERS.md's two examples, compiled and run against the real stack: a device's signed
// readings through Mosquitto (mTLS) into a bridge (Redis), committed on Hardhat's chain; the
// TypeScript client fetches them with their proofs over the bridge's HTTP port; the pull example
// (ExcursionClaim) acts on a reading verified on-chain, the push example (ColdRoomGate) on the feed
// the bridge pushed, through its Chainlink AggregatorV3Interface.

const FEED = "cold-room-7/temperature";
const compiled = (path: string) =>
  JSON.parse(readFileSync(new URL(`../../artifacts/contracts/${path}`, import.meta.url), "utf8")) as {
    abi: Abi;
    bytecode: Hex;
  };
const excursionClaim = compiled("examples/ExcursionClaim.sol/ExcursionClaim.json");
const coldRoomGate = compiled("examples/ColdRoomGate.sol/ColdRoomGate.json");
const aggregatorArtifact = compiled("SensorFeedAggregator.sol/SensorFeedAggregator.json");
// The gate's ABI with the feed's errors, which its calls pass on (a consumer decodes them the same way).
const gateAbi = [...coldRoomGate.abi, ...sensorFeedsReaderAbi.filter((i) => i.type === "error")] as Abi;

describe("the consumer kit against a real bridge and chain (docs/CONSUMERS.md)", () => {
  let ca: FleetCa;
  let redis: Service;
  let broker: Service;
  let stack: Stack;
  let bridge: Bridge;
  let store: RedisStore;
  let agent: DeviceAgent;
  let device: IssuedDevice;
  let bridgeUrl: string;
  let claim: Address;
  let gate: Address;
  let aggregator: Address;
  const feedId = feedIdOf(FEED);

  const deploy = async (artifact: { abi: Abi; bytecode: Hex }, args: unknown[]): Promise<Address> => {
    const hash = await stack.admin.deployContract({
      abi: artifact.abi,
      bytecode: artifact.bytecode,
      args,
      account: stack.admin.account,
      chain: stack.admin.chain,
    });
    const { contractAddress } = await stack.publicClient.waitForTransactionReceipt({ hash });
    return contractAddress as Address;
  };
  const send = async (address: Address, abi: Abi, functionName: string, args: readonly unknown[] = []) => {
    const { request } = await stack.publicClient.simulateContract({
      address,
      abi,
      functionName,
      args,
      account: stack.admin.account,
    });
    const hash = await stack.admin.writeContract(request);
    return stack.publicClient.waitForTransactionReceipt({ hash });
  };
  const revertOf = (p: Promise<unknown>) =>
    p.then(
      () => "no revert",
      (err: { walk?: (f: (e: unknown) => boolean) => unknown }) =>
        (
          err.walk?.((e) => !!(e as { data?: { errorName?: string } }).data?.errorName) as {
            data: { errorName: string };
          }
        )?.data.errorName,
    );

  beforeAll(async () => {
    ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    device = await enrollDevice(stack, ca, "secp256k1");
    const certificates = new FleetCertificates(ca.certPem);
    certificates.add(device.certPem);

    // The feed on SensorFeeds (what ignition/modules/Feed.ts does), its aggregator, and the examples.
    await send(stack.contracts.feeds, sensorFeedsAbi as Abi, "configureFeed", [
      feedId,
      { decimals: 2, quorum: 1, heartbeat: 3600, window: 300 },
      [device.deviceId],
      FEED,
    ]);
    aggregator = await deploy(aggregatorArtifact, [stack.contracts.feeds, feedId]);
    const now = (await stack.publicClient.getBlock()).timestamp;
    claim = await deploy(excursionClaim, [stack.contracts.oracle, feedId, 800n, now - 3600n, now + 86_400n]);
    gate = await deploy(coldRoomGate, [aggregator, 800n, 600n]);

    const port = await freePort();
    bridgeUrl = `http://127.0.0.1:${port}`;
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "consumer",
      certificates,
      http: { port },
      // Pushed when the test asks (bridge.pushFeeds), as the push schedule would every intervalMs.
      push: {
        address: stack.contracts.feeds,
        feeds: [{ feedId, deviationBps: 50, heartbeatSec: 3600 }],
        intervalMs: 3_600_000,
      },
    }));
    agent = await startDeviceAgent(device, siteOn(ca, broker, stack));
  });

  afterAll(async () => {
    await agent?.stop().catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  it("pull: fetches a committed reading with its proof over HTTP, verifies it on-chain, and the example claim acts on it", async () => {
    for (const value of [1020n, 500n]) {
      const seq = await agent.publish(feedId, value);
      expect(await agent.waitForAck(seq)).toMatchObject({ status: "queued" });
    }
    await bridge.flush();

    const warm = await fetchReading({ bridgeUrl, id: `${device.name}:1` });
    expect(warm.status).toBe("committed");
    expect(
      await verifyReadingOnChain({
        publicClient: stack.publicClient,
        oracle: stack.contracts.oracle,
        served: warm,
      }),
    ).toBe(warm.batch?.root);
    const latest = await fetchFeedLatest({ bridgeUrl, feed: FEED });
    expect(latest.id).toBe(`${device.name}:2`);
    expect((await fetchFeedLatest({ bridgeUrl, feed: feedId })).id).toBe(latest.id);

    // The example refuses the cold reading, then settles on the warm one: its own check, then verifyReading.
    expect(await revertOf(send(claim, excursionClaim.abi, "claim", verifyReadingArgs(latest)))).toBe(
      "ExcursionClaimNoExcursion",
    );
    const receipt = await send(claim, excursionClaim.abi, "claim", verifyReadingArgs(warm));
    expect(receipt.status).toBe("success");
    expect(
      await stack.publicClient.readContract({
        address: claim,
        abi: excursionClaim.abi,
        functionName: "claimed",
      }),
    ).toBe(true);
  });

  it("pull: a changed reading does not verify, on-chain or in the example, with the contract's reason", async () => {
    const served = await fetchReading({ bridgeUrl, id: `${device.name}:2` });
    const forged: ServedReading = { ...served, reading: { ...served.reading, value: "1500" } };
    const err = await verifyReadingOnChain({
      publicClient: stack.publicClient,
      oracle: stack.contracts.oracle,
      served: forged,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReadingNotVerifiedError);
    expect((err as ReadingNotVerifiedError).reason).toBe("ReadingBatchesUnknownBatch");
  });

  it("pull: a queued reading has no proof yet, and an unknown one is the bridge's 404", async () => {
    const seq = await agent.publish(feedId, 510n);
    await agent.waitForAck(seq);
    const queued = await fetchReading({ bridgeUrl, id: `${device.name}:${seq}` });
    expect(queued.status).toBe("queued");
    expect(() => verifyReadingArgs(queued)).toThrow(ReadingNotCommittedError);
    const missing = await fetchReading({ bridgeUrl, id: `${device.name}:999` }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BridgeRequestError);
    expect(missing).toMatchObject({ status: 404, code: "ReadingNotFound" });
    await bridge.flush();
  });

  it("push: the example gate reads nothing before the bridge pushes, then the pushed value, and refuses it once stale", async () => {
    expect(
      await revertOf(
        stack.publicClient.readContract({
          address: gate,
          abi: gateAbi,
          functionName: "temperature",
        }),
      ),
    ).toBe("SensorFeedsNoValue");
    // The feed takes a device's readings forward in time only (per second): one a second later.
    await new Promise((r) => setTimeout(r, 1100));
    const seq = await agent.publish(feedId, 480n);
    expect(await agent.waitForAck(seq)).toMatchObject({ status: "queued" });
    expect(await bridge.pushFeeds()).toBe(1);
    const [, answer] = await stack.publicClient.readContract({
      address: aggregator,
      abi: sensorFeedAggregatorAbi,
      functionName: "latestRoundData",
    });
    expect(answer).toBe(480n); // the device's newest reading: one device, quorum 1
    const receipt = await send(gate, gateAbi, "release");
    expect(receipt.status).toBe("success");

    await stack.publicClient.request({ method: "evm_increaseTime" as never, params: [601] as never });
    await stack.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    expect(await revertOf(send(gate, gateAbi, "release"))).toBe("ColdRoomGateStaleFeed");
  });
});

describe("docs/CONSUMERS.md", () => {
  it("shows the examples as they are: every line of each Solidity excerpt is in the file it names", () => {
    const doc = readFileSync(new URL("../../docs/CONSUMERS.md", import.meta.url), "utf8");
    const excerpts = [...doc.matchAll(/```solidity\n\/\/ (contracts\/\S+\.sol)\n([\s\S]*?)```/g)];
    expect(excerpts.map((m) => m[1])).toEqual([
      "contracts/examples/ExcursionClaim.sol",
      "contracts/examples/ColdRoomGate.sol",
    ]);
    for (const [, file, body] of excerpts) {
      const source = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
      const missing = (body as string).split("\n").filter((l) => l.trim() && !source.includes(l.trimEnd()));
      expect(missing, file).toEqual([]);
    }
  });
});
