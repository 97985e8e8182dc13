import { exec } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Hex, keccak256, toBytes } from "viem";
import { hardhat } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freezerAlarmAbi, sensorFeedsAbi, sensorOracleAbi } from "../../chain/abi.js";
import { createFleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { feedIdOf, readingDigest, signDigest, verifyReadingSignature } from "../../protocol/index.js";
import { type ChainNode, startHardhatNode } from "../../testkit/chain-node.js";

const sh = promisify(exec);
const DOC = readFileSync(new URL("../../docs/DEPLOY.md", import.meta.url), "utf8");
const PARAMS = "ignition/parameters/localhost.json";
const DEPLOYMENTS = "ignition/deployments/chain-31337";

/** The shell commands between the local-deploy markers of docs/DEPLOY.md. */
function documentedCommands(): string[] {
  const block = /<!-- local-deploy:begin -->([\s\S]*?)<!-- local-deploy:end -->/.exec(DOC)?.[1] ?? "";
  return block
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("```"));
}

describe("docs/DEPLOY.md on a local hardhat node over HTTP", () => {
  let node: ChainNode;
  let url: string;
  let dir: string;
  let device: IssuedDevice;
  const paramsBackup = readFileSync(PARAMS, "utf8");

  beforeAll(async () => {
    rmSync(DEPLOYMENTS, { recursive: true, force: true });
    node = await startHardhatNode();
    url = node.url;
    dir = mkdtempSync(join(tmpdir(), "so-deploy-"));
    const ca = await createFleetCa();
    device = await ca.issueDevice({ curve: "secp256k1", notBefore: new Date(Date.now() - 3600_000) });
    writeFileSync(join(dir, "device.pem"), device.certPem);
    writeFileSync(join(dir, "fleet-ca.pem"), ca.certPem);
  });

  afterAll(() => {
    node?.stop();
    writeFileSync(PARAMS, paramsBackup);
    rmSync(DEPLOYMENTS, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("deploys, grants roles, registers a device, configures a feed that a Chainlink-style consumer reads", async () => {
    const commands = documentedCommands();
    expect(commands).toHaveLength(3);
    const env = { ...process.env, LOCALHOST_RPC_URL: url };
    const run = (cmd: string) =>
      sh(
        cmd
          .replaceAll("device.pem", join(dir, "device.pem"))
          .replaceAll("fleet-ca.pem", join(dir, "fleet-ca.pem")),
        {
          env,
          timeout: 120_000,
        },
      );

    await run(commands[0] as string);
    const addresses = () =>
      JSON.parse(readFileSync(join(DEPLOYMENTS, "deployed_addresses.json"), "utf8")) as Record<string, Hex>;
    const registry = addresses()["SensorOracle#SensorOracle"] as Hex; // the registry too
    expect(commands[1]).toContain(`REGISTRY=${registry}`);

    const client = node.admin; // the deployer: Hardhat's first development account
    const batches = addresses()["SensorOracle#SensorOracle"] as Hex;
    const params = JSON.parse(paramsBackup);
    const submitterRole = keccak256(toBytes("SUBMITTER_ROLE"));
    expect(
      await client.readContract({
        address: batches,
        abi: sensorOracleAbi,
        functionName: "hasRole",
        args: [submitterRole, params.SensorOracle.submitter],
      }),
    ).toBe(true);

    const { stdout } = await run(commands[1] as string);
    expect(stdout).toContain(`registered ${device.deviceId}`);
    const onChain = await client.readContract({
      address: registry,
      abi: sensorOracleAbi,
      functionName: "getDevice",
      args: [device.deviceId],
    });
    expect(onChain.status).toBe(1);
    expect(onChain.curve).toBe(1);

    // As the document says: put the registered device in Feed.devices, then deploy the feed.
    writeFileSync(
      PARAMS,
      JSON.stringify({ ...params, Feed: { ...params.Feed, devices: [device.deviceId] } }, null, 2),
    );
    await run(commands[2] as string);
    const feeds = addresses()["SensorOracle#SensorFeeds"] as Hex;
    const alarm = addresses()["Feed#FreezerAlarm"] as Hex;

    // The device's reading reaches the feed, and the consumer that only knows AggregatorV3Interface acts on it.
    const feedId = feedIdOf(params.Feed.name);
    const block = await client.getBlock();
    const reading = {
      deviceId: device.deviceId,
      feedId,
      value: -1200n,
      timestamp: block.timestamp - 5n,
      sequence: 1n,
    };
    const digest = readingDigest(reading, { chainId: hardhat.id, registry });
    const wire = signDigest("secp256k1", device.readingSecretKey, digest);
    const sig = verifyReadingSignature({
      curve: "secp256k1",
      publicKey: device.readingPublicKey,
      digest,
      signature: wire,
    });
    const hash = await client.writeContract({
      address: feeds,
      abi: sensorFeedsAbi,
      functionName: "updateFeeds",
      args: [[reading], [`0x${Buffer.from(sig as Uint8Array).toString("hex")}`]],
    });
    expect((await client.waitForTransactionReceipt({ hash })).status).toBe("success");
    const { result } = await client.simulateContract({
      address: alarm,
      abi: freezerAlarmAbi,
      functionName: "check",
    });
    expect(result).toBe(true); // -12.00 °C is warmer than the -15.00 °C limit
  }, 300_000); // the first `hardhat ignition deploy` compiles the production profile (60-100 s here)
});
