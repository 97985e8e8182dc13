import type { Hex } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../pki/fleet-ca.js";
import {
  type CurveName,
  encodeReadingMessage,
  feedIdOf,
  type Reading,
  ReadingRejectedError,
  readingDigest,
  signDigest,
} from "../protocol/index.js";
import { certificateFingerprint, FleetCertificates } from "./certificates.js";
import { checkAndQueueReading } from "./checks.js";
import { MemoryRegistry } from "./registry/memory-registry.js";
import { MemoryStore } from "./store/memory-store.js";

let ca: FleetCa;
beforeAll(async () => {
  ca = await createFleetCa();
});

const now = () => Math.floor(Date.now() / 1000);
const feedId = feedIdOf("cold-room-7/temperature");
const domain = { chainId: 31337, registry: `0x${"5e".repeat(20)}` as Hex };

/** What registering a device on-chain records: its reading key and its certificate's fingerprint. */
function registerDevice(registry: MemoryRegistry, device: IssuedDevice): void {
  registry.set(device.deviceId, {
    curve: device.curve,
    status: "active",
    validFrom: now() - 3600,
    revokedAt: 0,
    publicKey: device.readingPublicKey,
    certFingerprint: certificateFingerprint(device.certPem),
    pastKeys: [],
  });
}

function setup() {
  const certificates = new FleetCertificates(ca.certPem);
  const registry = new MemoryRegistry();
  const params = { certificates, registry, store: new MemoryStore(), domain };
  /** Issue a certificate and register the device: what enrolment does, with a software key. */
  const enrollDevice = async (curve: CurveName) => {
    const d = await ca.issueDevice({ curve });
    registerDevice(registry, d);
    return d;
  };
  let seq = 0n;
  const send = async (d: IssuedDevice, over: Partial<Reading> = {}, key = d.readingSecretKey) => {
    const reading: Reading = {
      deviceId: d.deviceId,
      feedId,
      value: 100n,
      timestamp: BigInt(now()),
      sequence: ++seq,
      ...over,
    };
    const sig = signDigest(d.curve, key, readingDigest(reading, params.domain));
    return checkAndQueueReading(params, d.name, new TextEncoder().encode(encodeReadingMessage(reading, sig)));
  };
  const reason = (p: Promise<unknown>) =>
    p.then(
      () => "accepted",
      (e: unknown) => (e instanceof ReadingRejectedError ? e.reason : `other: ${String(e)}`),
    );
  return { certificates, registry, enrollDevice, send, reason, params };
}

describe("ingest checks against the certificate and the device registry", () => {
  it("accepts a reading whose certificate, registry entry and signature agree", async () => {
    const { certificates, enrollDevice, send } = setup();
    const d = await enrollDevice("secp256k1");
    certificates.add(d.certPem);
    const r = await send(d);
    expect(r.stored.signature.length).toBe(2 + 130); // secp256k1: r||s||v on-chain form
  });

  it("rejects a device with no enrolled certificate", async () => {
    const { enrollDevice, send, reason } = setup();
    const d = await enrollDevice("p256");
    expect(await reason(send(d))).toBe("no_certificate");
  });

  it("rejects an enrolled certificate that another CA issued", async () => {
    const { certificates, registry, send, reason } = setup();
    const other = await createFleetCa({ commonName: "rogue CA" });
    const d = await other.issueDevice({ curve: "p256" });
    registerDevice(registry, d);
    certificates.add(d.certPem);
    expect(await reason(send(d))).toBe("certificate_invalid");
  });

  it("rejects an expired certificate", async () => {
    const { certificates, registry, send, reason } = setup();
    const d = await ca.issueDevice({
      curve: "p256",
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    registerDevice(registry, d);
    certificates.add(d.certPem);
    expect(await reason(send(d))).toBe("certificate_expired");
  });

  it("rejects a certificate whose fingerprint the registry does not hold (key_mismatch)", async () => {
    const { certificates, enrollDevice, send, reason } = setup();
    const d = await enrollDevice("secp256k1");
    // Same reading key and device id, a new certificate the registry was not told about.
    const reissued = await ca.issueDevice({ curve: "secp256k1", readingSecretKey: d.readingSecretKey });
    expect(reissued.deviceId).toBe(d.deviceId);
    certificates.add(reissued.certPem);
    expect(await reason(send(reissued))).toBe("key_mismatch");
  });

  it("rejects a reading from a revoked device once the registry says so, and keeps earlier ones valid", async () => {
    const { certificates, registry, enrollDevice, send, reason } = setup();
    const d = await enrollDevice("p256");
    certificates.add(d.certPem);
    const since = now() - 30;
    registry.revoke(d.deviceId, since);
    expect(await reason(send(d))).toBe("revoked");
    expect(await reason(send(d, { timestamp: BigInt(since - 60) }))).toBe("accepted");
  });

  it("rejects a reading stamped too far in the future", async () => {
    const { certificates, enrollDevice, send, reason } = setup();
    const d = await enrollDevice("p256");
    certificates.add(d.certPem);
    expect(await reason(send(d, { timestamp: BigInt(now() + 3600) }))).toBe("future_timestamp");
    // The default skew is MAX_FUTURE_SKEW_SEC (30 s): a minute ahead is refused, ten seconds not.
    expect(await reason(send(d, { timestamp: BigInt(now() + 60) }))).toBe("future_timestamp");
    expect(await reason(send(d, { timestamp: BigInt(now() + 10) }))).toBe("accepted");
  });

  it("rejects a reading signed by another key", async () => {
    const { certificates, enrollDevice, send, reason } = setup();
    const d = await enrollDevice("p256");
    certificates.add(d.certPem);
    const other = await ca.issueDevice({ curve: "p256" });
    expect(await reason(send(d, {}, other.readingSecretKey))).toBe("bad_signature");
  });

  it("refuses a high-S signature (the valid twin n - s of a low-S one) as bad_signature, on both curves", async () => {
    const { certificates, enrollDevice, reason, params } = setup();
    const ORDER = {
      p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
      secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
    };
    for (const curve of ["p256", "secp256k1"] as const) {
      const d = await enrollDevice(curve);
      certificates.add(d.certPem);
      const reading: Reading = {
        deviceId: d.deviceId,
        feedId,
        value: 1n,
        timestamp: BigInt(now()),
        sequence: 1n,
      };
      const low = signDigest(curve, d.readingSecretKey, readingDigest(reading, domain));
      const s = BigInt(`0x${Buffer.from(low.subarray(32)).toString("hex")}`);
      const high = new Uint8Array(low);
      high.set(Buffer.from((ORDER[curve] - s).toString(16).padStart(64, "0"), "hex"), 32);
      const payload = (sig: Uint8Array) => new TextEncoder().encode(encodeReadingMessage(reading, sig));
      expect(await reason(checkAndQueueReading(params, d.name, payload(high)))).toBe("bad_signature");
      expect(await reason(checkAndQueueReading(params, d.name, payload(low)))).toBe("accepted");
    }
  });
});
