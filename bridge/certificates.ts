import "reflect-metadata";
import { createHash, X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, type Stats, statSync, unwatchFile, watchFile } from "node:fs";
import { join, resolve } from "node:path";
import * as x509 from "@peculiar/x509";
import { LRUCache } from "lru-cache";
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

/**
 * A certificate in full: what it says, its PEM until the CA check has run, and that check. Kept
 * for certificates added as PEM; for files, in a cache bounded by memory (read again on a miss).
 */
type Loaded = { parsed: DeviceCertificate; pem?: string | undefined; checked?: Promise<DeviceCertificate> };

/**
 * One certificate of a device, as the folder index keeps it: its serial and its file (measured
 * with 2,000: 560 bytes of heap a certificate with the file index, 1.5 KB parsed and cached), or,
 * for a certificate added as PEM, the certificate itself.
 */
type Entry = { serial: string; notAfter: number; file?: string; loaded?: Loaded };

/** A certificate file as last seen: unchanged while its inode, size and modification time are. */
type SeenFile = { ino: number; size: number; mtimeMs: number; ctimeMs: number; name: string };

/**
 * What one cached certificate costs (its parsed form, key and strings), measured as about 1 KB
 * with 2,000 certificates, rounded up; its PEM, until checked, is counted on top.
 */
const LOADED_BYTES = 1_300;

/** The default memory budget of the parsed-certificate cache: 32 MiB, about 25,000 devices. */
export const DEFAULT_CERTIFICATE_CACHE_BYTES = 32 * 1024 * 1024;

/** What one folder scan did. */
export type ScanResult = {
  /** .pem files in the folder. */
  files: number;
  /** Files read and parsed (new or changed). */
  parsed: number;
  /** Files gone since the last scan, whose certificates were dropped. */
  removed: number;
  /** Files that failed to parse (logged by the caller; the others load). */
  failed: { file: string; error: string }[];
  /** Whether the folder itself was unchanged and no file was looked at (quick scans only). */
  skipped: boolean;
};

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
  /** Certificate files by path, as last scanned. */
  private readonly seen = new Map<string, SeenFile>();
  private readonly dirStamp = new Map<string, string>();
  /** Certificates parsed since start (every add and every file read). */
  parses = 0;

  /** Parsed certificates of folder files, least recently used out first. */
  private readonly cache: LRUCache<string, Loaded>;

  /**
   * @param caPem the fleet's CA bundle: the issuing CA(s) and the root they chain to.
   * @param opts.cacheBytes memory budget of the parsed-certificate cache (default 32 MiB).
   */
  constructor(caPem: string, opts: { cacheBytes?: number } = {}) {
    this.cache = new LRUCache({
      maxSize: Math.max(LOADED_BYTES * 16, opts.cacheBytes ?? DEFAULT_CERTIFICATE_CACHE_BYTES),
      sizeCalculation: (l) => LOADED_BYTES + (l.pem?.length ?? 0),
    });
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

  private trustedNode: Promise<X509Certificate[]> | undefined;

  /** The trusted CAs as node:crypto certificates (for OpenSSL's signature check). */
  private trustedNodeCas(): Promise<X509Certificate[]> {
    this.trustedNode ??= this.trustedCas().then((cas) =>
      cas.map((c) => new X509Certificate(Buffer.from(c.rawData))),
    );
    return this.trustedNode;
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
    return this.addEntry(parsed, {
      serial: parsed.serialNumber,
      notAfter: parsed.notAfter.getTime(),
      loaded: { parsed, pem },
    });
  }

  private addEntry(parsed: DeviceCertificate, entry: Entry): string {
    this.parses += 1;
    const list = (this.entries.get(parsed.name) ?? []).filter((e) => e.serial !== parsed.serialNumber);
    list.push(entry);
    this.entries.set(parsed.name, list);
    return parsed.name;
  }

  private dropFile(path: string, seen: SeenFile): void {
    const list = this.entries.get(seen.name)?.filter((e) => e.file !== path) ?? [];
    if (list.length) this.entries.set(seen.name, list);
    else this.entries.delete(seen.name);
    this.seen.delete(path);
    this.cache.delete(path);
  }

  /**
   * An entry's certificate in full: kept, cached, or read again from its file. Null when the file
   * is gone or no longer holds this device's certificate of that serial (the next scan updates).
   */
  private load(name: string, entry: Entry): Loaded | null {
    if (entry.loaded) return entry.loaded;
    const file = entry.file as string;
    const hit = this.cache.get(file);
    if (hit) return hit;
    let pem: string;
    let parsed: DeviceCertificate;
    try {
      pem = readFileSync(file, "utf8");
      parsed = parseDeviceCertificate(pem);
    } catch {
      return null;
    }
    if (parsed.name !== name || parsed.serialNumber !== entry.serial) return null;
    this.parses += 1;
    const loaded: Loaded = { parsed, pem };
    this.cache.set(file, loaded);
    return loaded;
  }

  /**
   * Load every *.pem in a directory: returns how many there are. Incremental: a file whose inode,
   * size and modification times are as last seen is not read again; a changed file replaces what
   * it held, a removed file's certificate is dropped. See scanDirectory.
   */
  loadDirectory(dir: string): number {
    const r = this.scanDirectory(dir, { full: true });
    const first = r.failed[0];
    if (first) throw new TypeError(`certificate ${first.file} not loaded: ${first.error}`);
    return r.files;
  }

  /**
   * Scan a certificate folder: new and changed files are parsed, removed ones dropped, the rest
   * only stat'ed. Without `full`, a folder whose own modification time is unchanged is not listed
   * at all (adding, removing or renaming a file changes it; rewriting a file in place does not:
   * the periodic full scan picks that up). A file that does not parse is reported in `failed`
   * and the others still load.
   */
  scanDirectory(folder: string, opts: { full?: boolean } = {}): ScanResult {
    const dir = resolve(folder);
    const result: ScanResult = { files: 0, parsed: 0, removed: 0, failed: [], skipped: false };
    const d = statSync(dir);
    const stamp = `${d.ino}:${d.mtimeMs}:${d.ctimeMs}`;
    if (!opts.full && this.dirStamp.get(dir) === stamp) {
      result.skipped = true;
      result.files = [...this.seen.keys()].filter((f) => f.startsWith(`${dir}/`)).length;
      return result;
    }
    const present = new Set<string>();
    for (const f of readdirSync(dir)) {
      if (!f.endsWith(".pem")) continue;
      const path = join(dir, f);
      let st: Stats;
      try {
        st = statSync(path);
      } catch {
        continue; // removed between the listing and now
      }
      present.add(path);
      result.files += 1;
      const before = this.seen.get(path);
      if (
        before &&
        before.ino === st.ino &&
        before.size === st.size &&
        before.mtimeMs === st.mtimeMs &&
        before.ctimeMs === st.ctimeMs
      )
        continue;
      try {
        const pem = readFileSync(path, "utf8");
        const parsed = parseDeviceCertificate(pem);
        if (before) this.dropFile(path, before);
        this.addEntry(parsed, {
          serial: parsed.serialNumber,
          notAfter: parsed.notAfter.getTime(),
          file: path,
        });
        // Parsed anyway: cached while the budget allows, so the first readings need no read.
        this.cache.set(path, { parsed, pem });
        this.seen.set(path, {
          ino: st.ino,
          size: st.size,
          mtimeMs: st.mtimeMs,
          ctimeMs: st.ctimeMs,
          name: parsed.name,
        });
        result.parsed += 1;
      } catch (err) {
        result.failed.push({ file: path, error: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const [path, seen] of this.seen) {
      if (path.startsWith(`${dir}/`) && !present.has(path)) {
        this.dropFile(path, seen);
        result.removed += 1;
      }
    }
    this.dirStamp.set(dir, stamp);
    return result;
  }

  /** Devices with at least one certificate loaded. */
  get size(): number {
    return this.entries.size;
  }

  /** The names of the enrolled devices (the fleet page lists them before they send anything). */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The earliest notAfter among the devices' newest certificates not on the CRL (metrics), or null. */
  earliestExpiry(): Date | null {
    let earliest = Number.POSITIVE_INFINITY;
    for (const list of this.entries.values()) {
      const newest = list.at(-1);
      if (newest && !this.revoked.has(newest.serial) && newest.notAfter < earliest)
        earliest = newest.notAfter;
    }
    return Number.isFinite(earliest) ? new Date(earliest) : null;
  }

  /** The checked certificate of a device. Throws ReadingRejectedError (no_certificate, certificate_invalid, certificate_expired). */
  async resolve(
    name: string,
    now = new Date(),
    readingKey?: Uint8Array,
    /**
     * The registry's certificate fingerprint: of the certificates carrying the key, the one the
     * registry names is preferred (a renewal: old and new certificate carry the same key, and the
     * registry and the folder do not change at the same instant).
     */
    fingerprint?: Hex,
  ): Promise<DeviceCertificate> {
    const list = this.entries.get(name);
    if (!list?.length) {
      throw new ReadingRejectedError("no_certificate", "No enrolled certificate for this device.", {
        details: `device ${name}`,
      });
    }
    // The newest certificate, or the newest one that carries the given reading key.
    let chosen: Loaded | undefined;
    let newest: Loaded | undefined;
    for (let i = list.length - 1; i >= 0 && !chosen; i--) {
      const l = this.load(name, list[i] as Entry);
      if (l && (!readingKey || Buffer.compare(l.parsed.readingPublicKey, readingKey) === 0)) {
        newest ??= l;
        if (!fingerprint || l.parsed.fingerprint === fingerprint) chosen = l;
      }
    }
    chosen ??= newest;
    if (!chosen) {
      throw new ReadingRejectedError("key_mismatch", "No enrolled certificate carries the registry's key.", {
        details: `device ${name}`,
      });
    }
    chosen.checked ??= this.check(chosen);
    const dc = await chosen.checked;
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

  /** The certificate, once its signature chains to a fleet CA; its PEM is let go after. */
  private async check(loaded: Loaded): Promise<DeviceCertificate> {
    const name = loaded.parsed.name;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(loaded.pem as string);
    } catch {
      throw certificateInvalid(name, "certificate no longer parses");
    }
    loaded.pem = undefined;
    // OpenSSL checks the signature (0.1 ms; @peculiar/x509 through WebCrypto took several).
    const issuer = (await this.trustedNodeCas()).find((c) => cert.checkIssued(c));
    const signedByCa = !!issuer && cert.verify(issuer.publicKey);
    if (!signedByCa) throw certificateInvalid(name, "not issued by the fleet CA");
    return loaded.parsed;
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
  // node:crypto (OpenSSL) rather than @peculiar/x509: measured 0.15 against 2.6 ms a certificate
  // here, which at 100,000 devices is the bridge's start-up (15 s against 4 minutes).
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw certificateInvalid("(unparsed)", `not a certificate: ${err instanceof Error ? err.message : err}`);
  }
  const cn = cert.subject.split("\n").find((l) => l.startsWith("CN="));
  const name = cn ? cn.slice(3) : "";
  if (!isDeviceName(name)) throw certificateInvalid(name, "CN is not a 64-hex device name");
  const uris = sanUris(cert.subjectAltName);
  if (!uris.some((u) => parseDeviceSanUri(u) === name))
    throw certificateInvalid(name, "SAN does not name this device");
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  const tlsKey = new Uint8Array(spki.subarray(spki.length - 65));
  const named = uris.map(parseReadingKeySanUri).find((k) => k !== null);
  let curve: CurveName = "p256";
  let readingPublicKey: Uint8Array = tlsKey;
  if (named) {
    if (named.curve === "p256" && Buffer.compare(named.publicKey, tlsKey) !== 0) {
      throw certificateInvalid(name, "a P-256 reading key must be the certificate's key");
    }
    curve = named.curve;
    // A copy of its own: the parsed key is a view into a shared 8 KB buffer pool slab, which it
    // would keep alive (1.3 KB a certificate measured, 130 MB at 100,000 devices).
    readingPublicKey = new Uint8Array(named.publicKey);
  }
  const fingerprint = `0x${createHash("sha256").update(cert.raw).digest("hex")}` as Hex;
  return {
    name,
    serialNumber: cert.serialNumber.toLowerCase(),
    curve,
    readingPublicKey,
    fingerprint,
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
  };
}

/**
 * The URIs of OpenSSL's subjectAltName text ("URI:a, DNS:b, URI:c"); a value with a comma or a
 * quote comes JSON-quoted.
 */
function sanUris(san: string | undefined): string[] {
  const out: string[] = [];
  for (const m of (san ?? "").matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const v = m[1] as string;
    try {
      out.push(v.startsWith('"') ? (JSON.parse(v) as string) : v);
    } catch {
      // not a URI we can read: it names no device
    }
  }
  return out;
}

/** sha256 of a certificate's DER: the fingerprint the registry holds. */
export function certificateFingerprint(pem: string): Hex {
  const der = Buffer.from(new x509.X509Certificate(pem).rawData);
  return `0x${createHash("sha256").update(der).digest("hex")}`;
}
