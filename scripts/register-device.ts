// Register a device on the DeviceRegistry from its certificate (curve, reading key and fingerprint
// are all taken from it). Run with the operator's account:
//   DEVICE_CERT=device.pem REGISTRY=0x... npx hardhat run scripts/register-device.ts --network <network>
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { registrationOf } from "../fleet/registration.js";
import { registerDevice } from "../fleet/registry-admin.js";

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`register-device: set ${name}`);
    process.exit(2);
  }
  return v;
}

const certPem = readFileSync(need("DEVICE_CERT"), "utf8");
const registry = need("REGISTRY") as Hex;
const caPem = process.env.FLEET_CA ? readFileSync(process.env.FLEET_CA, "utf8") : undefined;

// The certificate's own claims; with FLEET_CA set, it must also chain to the fleet CA.
let registration: Awaited<ReturnType<typeof registrationOf>>;
try {
  registration = await registrationOf(certPem, caPem);
} catch (err) {
  const e = err as { shortMessage?: string; message?: string };
  console.error(`register-device: ${e.shortMessage ?? e.message ?? String(err)}`);
  process.exit(1);
}
const { device, name, validFrom } = registration;
const { viem } = await network.create();
const [wallet] = (await viem.getWalletClients()) as unknown as WalletClient<Transport, Chain, Account>[];
const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
if (!wallet) throw new Error("no account configured for this network");
console.log(`registering device ${name} (${device.curve}) on ${registry} from ${wallet.account.address}`);
const { hash, blockNumber } = await registerDevice({ wallet, publicClient, registry }, device, validFrom);
console.log(`registered ${device.deviceId} in block ${blockNumber} (tx ${hash}, success)`);
