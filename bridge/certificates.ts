import "reflect-metadata";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, unwatchFile, watchFile } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import type { Hex } from "viem";
import {
  type CurveName,
  isDeviceName,
  parseDeviceSanUri,
  parseReadingKeySanUri,
  ReadingRejectedError,
} from "../protocol/index.js";

/** What the bridge knows of a device from its certificate, after checking it. */
export type DeviceCertificate = {
  name: string;
  serialNumber: string;
  curve: CurveName;
  readingPublicKey: Uint8Array;
  fingerprint: Hex;
  notBefore: Date;
  notAfter: Date;
};

type Entry = { pem: string; parsed: DeviceCertificate; checked?: Promise<DeviceCertificate> };

/**
 * Device certificates the fleet CA issued, by device name. The broker authenticates each TLS
 * client against the fleet CA and (with use_identity_as_username and the topic ACL) lets it
 * publish only under its own CN; the bridge checks the enrolled certificate for that name
 * chains to the fleet CA, is within its validity, and names the key that signs its readings.
 */
export class FleetCertificates {
  private readonly cas: x509.X509Certificate[];
  private trusted: Promise<x509.X509Certificate[]> | undefined;
  // Every certificate of a device, newest last: after a key rotation, readings signed before it
  // still need the certificate of the old key.
  private readonly entries = new Map<string, Entry[]>();
  private revoked = new Set<string>();

  /** @param caPem the fleet's CA bundle: the issuing CA(s) and the root they chain to. */
  constructor(caPem: string) {
    this.cas = x509.PemConverter.decode(caPem).map((der) => new x509.X509Certificate(der));
    if (this.cas.length === 0) throw new TypeError("no CA certificate in the fleet CA bundle");
  }

  /** The bundle's CAs that chain, signature by signature, to a self-signed root in it. */
  private trustedCas(): Promise<x509.X509Certificate[]> {
    this.trusted ??= (async () => {
      const ok: x509.X509Certificate[] = [];
      for (const c of this.cas)
        if (c.subject === c.issuer && (await c.verify({ signatureOnly: true }))) ok.push(c);
      for (let grew = true; grew; ) {
        grew = false;
        for (const c of this.cas) {
          if (ok.includes(c)) continue;
          const issuer = ok.find((i) => i.subject === c.issuer);
          if (
            issuer &&
            (await c.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false))
          ) {
            ok.push(c);
            grew = true;
          }
        }
      }
      return ok;
    })();
    return this.trusted;
  }

  /**
   * Take a CRL from the fleet's issuing CA: certificates on it are refused from the next reading
   * on (brokers check CRLs only at the TLS handshake). Throws if the CRL is not the fleet's.
   */
  async setCrl(crlPem: string): Promise<number> {
    const der = x509.PemConverter.decode(crlPem)[0];
    if (!der) throw new TypeError("no CRL in the file");
    const crl = new x509.X509Crl(der);
    const issuer = (await this.trustedCas()).find((c) => c.subject === crl.issuer);
    if (!issuer || !(await crl.verify({ publicKey: issuer.publicKey }))) {
      throw new TypeError("the CRL is not signed by a fleet CA");
    }
    this.revoked = new Set(crl.entries.map((e) => e.serialNumber));
    return this.revoked.size;
  }

  /** Follow a CRL file: read it now and again whenever it changes. Returns the function that stops. */
  followCrlFile(path: string, onError: (err: unknown) => void = () => {}, intervalMs = 1000): () => void {
    const load = () => {
      try {
        void this.setCrl(readFileSync(path, "utf8")).catch(onError);
      } catch (err) {
        onError(err);
      }
    };
    load();
    watchFile(path, { interval: intervalMs }, load);
    return () => unwatchFile(path, load);
  }

  /** Add (or replace) a device certificate; the device name is taken from its subject CN. */
  add(pem: string): string {
    const parsed = parseDeviceCertificate(pem);
    const list = (this.entries.get(parsed.name) ?? []).filter(
      (e) => e.parsed.serialNumber !== parsed.serialNumber,
    );
    list.push({ pem, parsed });
    this.entries.set(parsed.name, list);
    return parsed.name;
  }

  /** Load every *.pem in a directory. */
  loadDirectory(dir: string): number {
    let n = 0;
    for (const f of readdirSync(dir)) {
      if (f.endsWith(".pem")) {
        this.add(readFileSync(join(dir, f), "utf8"));
        n++;
      }
    }
    return n;
  }

  /** The names of the enrolled devices (the fleet page lists them before they send anything). */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The earliest notAfter among the devices' newest certificates not on the CRL (metrics), or null. */
  earliestExpiry(): Date | null {
    let earliest: Date | null = null;
    for (const list of this.entries.values()) {
      const newest = list.at(-1)?.parsed;
      if (newest && !this.revoked.has(newest.serialNumber) && (!earliest || newest.notAfter < earliest))
        earliest = newest.notAfter;
    }
    return earliest;
  }

  /** The checked certificate of a device. Throws ReadingRejectedError (no_certificate, certificate_invalid, certificate_expired). */
  async resolve(name: string, now = new Date(), readingKey?: Uint8Array): Promise<DeviceCertificate> {
    const list = this.entries.get(name);
    if (!list?.length) {
      throw new ReadingRejectedError("no_certificate", "No enrolled certificate for this device.", {
        details: `device ${name}`,
      });
    }
    // The newest certificate, or the newest one that carries the given reading key.
    const entry = readingKey
      ? list.findLast((e) => Buffer.compare(e.parsed.readingPublicKey, readingKey) === 0)
      : list.at(-1);
    if (!entry) {
      throw new ReadingRejectedError("key_mismatch", "No enrolled certificate carries the registry's key.", {
        details: `device ${name}`,
      });
    }
    entry.checked ??= this.check(entry);
    const dc = await entry.checked;
    if (this.revoked.has(dc.serialNumber)) {
      throw new ReadingRejectedError("revoked", "Device certificate is on the fleet CRL.", {
        details: `device ${name}, serial ${dc.serialNumber}`,
      });
    }
    if (now < dc.notBefore || now > dc.notAfter) {
      throw new ReadingRejectedError("certificate_expired", "Device certificate is not valid now.", {
        details: `device ${name}, valid ${dc.notBefore.toISOString()} to ${dc.notAfter.toISOString()}`,
      });
    }
    return dc;
  }

  /** The entry's certificate, parsed when added, once its signature chains to a fleet CA. */
  private async check(entry: Entry): Promise<DeviceCertificate> {
    const cert = new x509.X509Certificate(entry.pem);
    const issuer = (await this.trustedCas()).find((c) => c.subject === cert.issuer);
    const signedByCa =
      !!issuer &&
      (await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false));
    if (!signedByCa) throw certificateInvalid(entry.parsed.name, "not issued by the fleet CA");
    return entry.parsed;
  }
}

function certificateInvalid(name: string, details: string): ReadingRejectedError {
  return new ReadingRejectedError("certificate_invalid", "Device certificate is not valid for this fleet.", {
    details: `device ${name}: ${details}`,
  });
}

/**
 * What a device certificate says (docs/PROTOCOL.md section 6), without checking who issued it:
 * the device name (CN, repeated in a SAN URI), the reading key and its curve, the fingerprint.
 */
export function parseDeviceCertificate(pem: string): DeviceCertificate {
  const cert = new x509.X509Certificate(pem);
  const name = cert.subjectName.getField("CN")[0] ?? "";
  if (!isDeviceName(name)) throw certificateInvalid(name, "CN is not a 64-hex device name");
  const uris = (cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
    .filter((n) => n.type === "url")
    .map((n) => n.value);
  if (!uris.some((u) => parseDeviceSanUri(u) === name))
    throw certificateInvalid(name, "SAN does not name this device");
  const spki = new Uint8Array(cert.publicKey.rawData);
  const tlsKey = spki.slice(spki.length - 65);
  const named = uris.map(parseReadingKeySanUri).find((k) => k !== null);
  let curve: CurveName = "p256";
  let readingPublicKey: Uint8Array = tlsKey;
  if (named) {
    if (named.curve === "p256" && Buffer.compare(named.publicKey, tlsKey) !== 0) {
      throw certificateInvalid(name, "a P-256 reading key must be the certificate's key");
    }
    curve = named.curve;
    readingPublicKey = named.publicKey;
  }
  const fingerprint = `0x${createHash("sha256").update(Buffer.from(cert.rawData)).digest("hex")}` as Hex;
  return {
    name,
    serialNumber: cert.serialNumber,
    curve,
    readingPublicKey,
    fingerprint,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** sha256 of a certificate's DER: the fingerprint the registry holds. */
export function certificateFingerprint(pem: string): Hex {
  const der = Buffer.from(new x509.X509Certificate(pem).rawData);
  return `0x${createHash("sha256").update(der).digest("hex")}`;
}
