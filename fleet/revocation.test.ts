import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensorOracleAbi } from "../chain/abi.js";
import { createChainClients } from "../chain/clients.js";
import { createFleetCa, type FleetCa, loadFleetCa } from "../pki/fleet-ca.js";
import { deviceNameToId, publicKeyOf, randomSecretKey } from "../protocol/index.js";
import { type ChainNode, DEV_KEYS, deployOverHttp, startHardhatNode } from "../testkit/chain-node.js";
import { AuditLog } from "./audit-log.js";
import { registerBatch } from "./bulk-registration.js";
import { type RegistryWriter, revokeDevice } from "./registry-admin.js";
import { revokeDevices } from "./revocation.js";

/**
 * Revocation at scale against a Hardhat node: batches as large as `maxBatch` allows, one per
 * `since`, a lone device by `revoke`, devices revoked before skipped, unregistered ones CRL only.
 */
describe("revokeDevices on-chain in batches", () => {
  let node: ChainNode;
  let w: RegistryWriter;
  let dir: string;
  let ca: FleetCa;
  const names: string[] = [];

  beforeAll(async () => {
    node = await startHardhatNode();
    const { oracle } = await deployOverHttp(node);
    const { publicClient, walletClient } = createChainClients({
      chainId: 31337,
      rpcUrl: node.url,
      privateKey: DEV_KEYS.admin,
      pollingInterval: 50,
    });
    w = { wallet: walletClient, publicClient, registry: oracle };
    dir = mkdtempSync(join(tmpdir(), "so-revocation-"));
    mkdirSync(join(dir, "devices"));
    // As `ca init` leaves it: commands load the issuing CA without the root key.
    await (await createFleetCa({ commonName: "revocation test" })).save(join(dir, "ca"), {
      rootPassphrase: "test passphrase",
    });
    ca = await loadFleetCa(join(dir, "ca"));
    const pending = [];
    for (let i = 0; i < 9; i++) {
      const d = await ca.issueDeviceForKey(publicKeyOf("p256", randomSecretKey("p256")));
      writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
      names.push(d.name);
      pending.push({ device: { ...d, curve: "p256" as const }, validFrom: 1 });
    }
    // All but the last registered on-chain.
    await registerBatch(w, pending.slice(0, 8));
  }, 120_000);

  afterAll(() => {
    node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async (name: string) =>
    (
      await w.publicClient.readContract({
        address: w.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(name)],
      })
    ).status;

  it("sends batches of at most maxBatch per since, skips the revoked and the unregistered", async () => {
    // Now by the clock (the command refuses a later since), which the node's blocks are not behind.
    const t = Math.floor(Date.now() / 1000) - 5;
    const [a, b, c, d, e, f, g, h, unregistered] = names as [string, ...string[]];
    await revokeDevice(w, deviceNameToId(h as string), t); // revoked before the run
    const earlier = new Set([f, g]);
    const seen: [string, Hex | undefined][] = [];
    const r = await revokeDevices({
      dir,
      ca,
      names: [a, b, c, d, e, f, g, h, unregistered] as string[],
      since: (n) => (earlier.has(n) ? t - 100 : t),
      registry: w,
      audit: AuditLog.open(dir, "test"),
      maxBatch: 2,
      onRevoked: (n, _done, _total, tx) => seen.push([n, tx]),
    });
    // since t: a b | c d | e (alone: revoke); since t - 100: f g.
    expect(r.transactions.map((x) => x.devices)).toEqual([2, 2, 1, 2]);
    expect(r.onChain.map((x) => x.name)).toEqual([a, b, c, d, e, f, g]);
    expect(r.alreadyRevoked).toEqual([h]);
    expect(r.notRegistered).toEqual([unregistered]);
    expect(seen).toHaveLength(9);
    for (const n of [a, b, c, d, e, f, g, h]) expect(await status(n as string)).toBe(2);
    expect(await status(unregistered as string)).toBe(0);
    const revokedAt = async (n: string) =>
      (
        await w.publicClient.readContract({
          address: w.registry,
          abi: sensorOracleAbi,
          functionName: "getDevice",
          args: [deviceNameToId(n)],
        })
      ).revokedAt;
    expect(await revokedAt(f as string)).toBe(t - 100);
    expect(await revokedAt(a as string)).toBe(t);
    // A batch of two costs less than two revokes (31,428 each).
    const pair = r.transactions[0]?.gasUsed as bigint;
    const single = r.transactions[2]?.gasUsed as bigint;
    expect(pair).toBeLessThan(2n * single);

    // A re-run sends nothing.
    const again = await revokeDevices({
      dir,
      ca,
      names: [a, b, c] as string[],
      registry: w,
      audit: AuditLog.open(dir, "test"),
    });
    expect(again.transactions).toEqual([]);
    expect(again.alreadyRevoked).toEqual([a, b, c]);
  }, 120_000);

  it("sizes a batch to the gas limit when maxBatch allows more", async () => {
    const more = [];
    for (let i = 0; i < 20; i++) {
      const d = await ca.issueDeviceForKey(publicKeyOf("p256", randomSecretKey("p256")));
      writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
      more.push({ device: { ...d, curve: "p256" as const }, validFrom: 1 });
    }
    await registerBatch(w, more);
    const r = await revokeDevices({
      dir,
      ca,
      names: more.map((m) => m.device.name),
      registry: w,
      audit: AuditLog.open(dir, "test"),
    });
    expect(r.transactions.map((x) => x.devices)).toEqual([20]);
  }, 120_000);
});
