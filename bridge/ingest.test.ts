import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceRegistryAbi } from "../chain/abi.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import {
  encodeReadingMessage,
  type Reading,
  ReadingRejectedError,
  readingDigest,
  signDigest,
} from "../protocol/index.js";
import { deployStack, enrollDevice, registerDevice, type Stack } from "../testkit/stack.js";
import { FleetCertificates } from "./certificates.js";
import { ingestReading } from "./ingest.js";
import { RegistryCache } from "./registry.js";
import { MemoryStore } from "./store/memory-store.js";

let stack: Stack;
let ca: FleetCa;
beforeAll(async () => {
  stack = await deployStack();
  ca = await createFleetCa();
});
afterAll(async () => {
  await stack?.close();
});

const now = () => Math.floor(Date.now() / 1000);

function setup(ttlMs = 0) {
  const certificates = new FleetCertificates(ca.certPem);
  const params = {
    certificates,
    registry: new RegistryCache(stack.publicClient, stack.contracts.registry, ttlMs),
    store: new MemoryStore(),
    domain: { chainId: stack.chainId, registry: stack.contracts.registry },
  };
  let seq = 0n;
  const send = async (d: IssuedDevice, over: Partial<Reading> = {}, key = d.readingSecretKey) => {
    const reading: Reading = {
      deviceId: d.deviceId,
      feedId: stack.feedId,
      value: 100n,
      timestamp: BigInt(now()),
      sequence: ++seq,
      ...over,
    };
    const sig = signDigest(d.curve, key, readingDigest(reading, params.domain));
    return ingestReading(params, d.name, new TextEncoder().encode(encodeReadingMessage(reading, sig)));
  };
  const reason = (p: Promise<unknown>) =>
    p.then(
      () => "accepted",
      (e: unknown) => (e instanceof ReadingRejectedError ? e.reason : `other: ${String(e)}`),
    );
  return { certificates, send, reason };
}

describe("ingest checks against the certificate and the on-chain registry", () => {
  it("accepts a reading whose certificate, registry entry and signature agree", async () => {
    const { certificates, send } = setup();
    const d = await enrollDevice(stack, ca, "secp256k1");
    certificates.add(d.certPem);
    const r = await send(d);
    expect(r.stored.signature.length).toBe(2 + 130); // secp256k1: r||s||v on-chain form
  });

  it("rejects a device with no enrolled certificate", async () => {
    const { send, reason } = setup();
    const d = await enrollDevice(stack, ca, "p256");
    expect(await reason(send(d))).toBe("no_certificate");
  });

  it("rejects an enrolled certificate that another CA issued", async () => {
    const { certificates, send, reason } = setup();
    const other = await createFleetCa({ commonName: "rogue CA" });
    const d = await other.issueDevice({ curve: "p256" });
    await registerDevice(stack, d);
    certificates.add(d.certPem);
    expect(await reason(send(d))).toBe("certificate_invalid");
  });

  it("rejects an expired certificate", async () => {
    const { certificates, send, reason } = setup();
    const d = await ca.issueDevice({
      curve: "p256",
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    await registerDevice(stack, d);
    certificates.add(d.certPem);
    expect(await reason(send(d))).toBe("certificate_expired");
  });

  it("rejects a certificate whose fingerprint the registry does not hold (key_mismatch)", async () => {
    const { certificates, send, reason } = setup();
    const d = await enrollDevice(stack, ca, "secp256k1");
    // Same reading key and device id, a new certificate the registry was not told about.
    const reissued = await ca.issueDevice({ curve: "secp256k1", readingSecretKey: d.readingSecretKey });
    expect(reissued.deviceId).toBe(d.deviceId);
    certificates.add(reissued.certPem);
    expect(await reason(send(reissued))).toBe("key_mismatch");
  });

  it("rejects a reading from a revoked device once the registry says so, and keeps earlier ones valid", async () => {
    const { certificates, send, reason } = setup();
    const d = await enrollDevice(stack, ca, "p256");
    certificates.add(d.certPem);
    const since = now() - 30;
    const hash = await stack.operator.writeContract({
      address: stack.contracts.registry,
      abi: deviceRegistryAbi,
      functionName: "revoke",
      args: [d.deviceId, since],
      chain: stack.operator.chain,
      account: stack.operator.account,
    });
    await stack.publicClient.waitForTransactionReceipt({ hash });
    expect(await reason(send(d))).toBe("revoked");
    expect(await reason(send(d, { timestamp: BigInt(since - 60) }))).toBe("accepted");
  });

  it("rejects a reading stamped too far in the future", async () => {
    const { certificates, send, reason } = setup();
    const d = await enrollDevice(stack, ca, "p256");
    certificates.add(d.certPem);
    expect(await reason(send(d, { timestamp: BigInt(now() + 3600) }))).toBe("future_timestamp");
  });

  it("rejects a reading signed by another key", async () => {
    const { certificates, send, reason } = setup();
    const d = await enrollDevice(stack, ca, "p256");
    certificates.add(d.certPem);
    const other = await ca.issueDevice({ curve: "p256" });
    expect(await reason(send(d, {}, other.readingSecretKey))).toBe("bad_signature");
  });
});
