// Register a device on the DeviceRegistry from its certificate (curve, reading key and fingerprint
// are all taken from it). Run with the operator's account:
//   DEVICE_CERT=device.pem REGISTRY=0x... npx hardhat run fleet/register.ts --network <network>
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import type { Hex, PublicClient } from "viem";
import { certificateFingerprint, FleetCertificates, parseDeviceCertificate } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { Curve, deviceIdOf, deviceNameToId, splitPublicKey } from "../protocol/index.js";
import type { Wallet } from "../testkit/stack.js";

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
const caPem = process.env.FLEET_CA ? readFileSync(process.env.FLEET_CA, "utf8") : null;

// The certificate's own claims; with FLEET_CA set, it must also chain to the fleet CA.
let dc = parseDeviceCertificate(certPem);
if (caPem) {
  const certs = new FleetCertificates(caPem);
  certs.add(certPem);
  dc = await certs.resolve(dc.name);
}
const name = dc.name;
const deviceId = deviceNameToId(name);
if (deviceIdOf(dc.curve, dc.readingPublicKey) !== deviceId) {
  console.error(
    "register-device: the certificate's CN is not the id of its reading key (a rotated key? use rotate)",
  );
  process.exit(1);
}
const { viem } = await network.create();
const [operator] = (await viem.getWalletClients()) as unknown as Wallet[];
const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
if (!operator) throw new Error("no account configured for this network");
const { x, y } = splitPublicKey(dc.readingPublicKey);
console.log(`registering device ${name} (${dc.curve}) on ${registry} from ${operator.account.address}`);
const hash = await operator.writeContract({
  address: registry,
  abi: sensorOracleAbi,
  functionName: "register",
  args: [
    deviceId,
    Curve[dc.curve],
    x,
    y,
    certificateFingerprint(certPem),
    Math.floor(dc.notBefore.getTime() / 1000),
  ],
  chain: operator.chain,
  account: operator.account,
});
const receipt = await publicClient.waitForTransactionReceipt({ hash });
console.log(`registered ${deviceId} in block ${receipt.blockNumber} (tx ${hash}, ${receipt.status})`);
