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

/** A certificate added as PEM (not from a file): kept in full. Its serial is packed (packHex). */
type PemEntry = { serial: string; notAfter: number; loaded: Loaded };

/**
 * One certificate of a device: a certificate file's slot number (see FileSlots) or a certificate
 * added as PEM. A device with one certificate keeps it unwrapped, with more an array, newest last.
 */
type Ref = number | PemEntry;

/**
 * The certificate files of one folder, by file name. A file named `<device name>.pem` (as the
 * fleet's are) is keyed by the name packed to 32 bytes (packHex), shared with the device index.
 */
type FolderFiles = { path: string; stamp: string; byStem: Map<string, number>; other: Map<string, number> };

/**
 * What the index keeps of each certificate file, column by column so that a certificate costs
 * no objects of its own: 301 bytes of memory a certificate (heap and typed arrays) against 786
 * with an entry object, a stat object and the full path each, and 274 against 2,098 once the
 * start-up scan no longer fills the parsed cache with PEMs (bench/certificate-heap.ts, 20,000).
 * A slot is an index into these columns; freed slots are used again.
 */
class FileSlots {
  /** ino, size, mtimeMs, ctimeMs of each file as last seen (4 numbers a slot). */
  stat = new Float64Array(4 * 1024);
  /** notAfter (ms) of the certificate in each file. */
  notAfter = new Float64Array(1024);
  /** The folder of each file (index into folders). */
  folder = new Int32Array(1024);
  /** Whether the file's key is its packed stem (1) or its plain file name (0). */
  stemKeyed = new Uint8Array(1024);
  /** The file's key in its folder's map (the packed stem, or the file name). */
  fileKey: string[] = [];
  /** The device the file's certificate names, packed (the device index's key). */
  device: string[] = [];
  /** The certificate's serial, packed. */
  serial: string[] = [];
  private free: number[] = [];
  private next = 0;

  take(): number {
    const slot = this.free.pop() ?? this.next++;
    if (slot >= this.notAfter.length) {
      const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, n: number): T => {
        const b = new (a.constructor as new (n: number) => T)(n);
        b.set(a);
        return b;
      };
      const cap = this.notAfter.length * 2;
      this.stat = grow(this.stat, cap * 4);
      this.notAfter = grow(this.notAfter, cap);
      this.folder = grow(this.folder, cap);
      this.stemKeyed = grow(this.stemKeyed, cap);
    }
    return slot;
  }

  release(slot: number): void {
    this.fileKey[slot] = "";
    this.device[slot] = "";
    this.serial[slot] = "";
    this.free.push(slot);
  }

  sameStat(slot: number, st: Stats): boolean {
    const o = slot * 4;
    return (
      this.stat[o] === st.ino &&
      this.stat[o + 1] === st.size &&
      this.stat[o + 2] === st.mtimeMs &&
      this.stat[o + 3] === st.ctimeMs
    );
  }

  setStat(slot: number, st: Stats): void {
    this.stat.set([st.ino, st.size, st.mtimeMs, st.ctimeMs], slot * 4);
  }
}

/**
 * A lowercase hex string (a device name, a serial) packed to one character a byte: half the
 * length, and a string of its own (not a slice keeping a certificate's subject alive). Any other
 * string is kept as it is behind a marker no packed string starts with.
 */
export function packHex(hex: string): string {
  return /^(?:[0-9a-f]{2})+$/.test(hex) ? Buffer.from(hex, "hex").toString("latin1") : `\u0100${hex}`;
}

/** The string packHex packed. */
export function unpackHex(packed: string): string {
  return packed.charCodeAt(0) === 0x100 ? packed.slice(1) : Buffer.from(packed, "latin1").toString("hex");
}

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
  // Every certificate of a device by its packed name, newest last: after a key rotation, readings
  // signed before it still need the certificate of the old key.
  private readonly entries = new Map<string, Ref | Ref[]>();
  private revoked = new Set<string>();
  /** The certificate files as last scanned. */
  private readonly slots = new FileSlots();
  /** The folders scanned, by resolved path, and their index in FileSlots.folder. */
  private readonly folders: FolderFiles[] = [];
  private readonly folderIndex = new Map<string, number>();
  /** Certificates parsed since start (every add and every file read). */
  parses = 0;

  /** Parsed certificates of folder files, least recently used out first. */
  private readonly cache: LRUCache<number, Loaded>;

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
    this.addRef(packHex(parsed.name), packHex(parsed.serialNumber), {
      serial: packHex(parsed.serialNumber),
      notAfter: parsed.notAfter.getTime(),
      loaded: { parsed, pem },
    });
    return parsed.name;
  }

  private serialOf(ref: Ref): string {
    return typeof ref === "number" ? (this.slots.serial[ref] as string) : ref.serial;
  }

  private notAfterOf(ref: Ref): number {
    return typeof ref === "number" ? (this.slots.notAfter[ref] as number) : ref.notAfter;
  }

  /** Add a device's certificate (replacing one of the same serial), newest last. */
  private addRef(device: string, serial: string, ref: Ref): void {
    this.parses += 1;
    const had = this.entries.get(device);
    const list = (had === undefined ? [] : Array.isArray(had) ? had : [had]).filter(
      (r) => this.serialOf(r) !== serial,
    );
    list.push(ref);
    this.entries.set(device, list.length === 1 ? (list[0] as Ref) : list);
  }

  private dropFile(folder: FolderFiles, slot: number): void {
    const device = this.slots.device[slot] as string;
    const had = this.entries.get(device);
    const list = (had === undefined ? [] : Array.isArray(had) ? had : [had]).filter((r) => r !== slot);
    if (list.length) this.entries.set(device, list.length === 1 ? (list[0] as Ref) : list);
    else this.entries.delete(device);
    const key = this.slots.fileKey[slot] as string;
    if (this.slots.stemKeyed[slot]) folder.byStem.delete(key);
    else folder.other.delete(key);
    this.cache.delete(slot);
    this.slots.release(slot);
  }

  /** A file slot's path. */
  private pathOf(slot: number): string {
    const folder = this.folders[this.slots.folder[slot] as number] as FolderFiles;
    const key = this.slots.fileKey[slot] as string;
    return join(folder.path, this.slots.stemKeyed[slot] ? `${unpackHex(key)}.pem` : key);
  }

  /**
   * A certificate in full: kept, cached, or read again from its file. Null when the file is gone
   * or no longer holds this device's certificate of that serial (the next scan updates).
   */
  private load(name: string, ref: Ref): Loaded | null {
    if (typeof ref !== "number") return ref.loaded;
    const hit = this.cache.get(ref);
    if (hit) return hit;
    let pem: string;
    let parsed: DeviceCertificate;
    try {
      pem = readFileSync(this.pathOf(ref), "utf8");
      parsed = parseDeviceCertificate(pem);
    } catch {
      return null;
    }
    if (parsed.name !== name || packHex(parsed.serialNumber) !== this.slots.serial[ref]) return null;
    this.parses += 1;
    const loaded: Loaded = { parsed, pem };
    this.cache.set(ref, loaded);
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
    let index = this.folderIndex.get(dir);
    if (index === undefined) {
      index = this.folders.push({ path: dir, stamp: "", byStem: new Map(), other: new Map() }) - 1;
      this.folderIndex.set(dir, index);
    }
    const files = this.folders[index] as FolderFiles;
    if (!opts.full && files.stamp === stamp) {
      result.skipped = true;
      result.files = files.byStem.size + files.other.size;
      return result;
    }
    const slots = this.slots;
    const present = new Set<number>();
    for (const f of readdirSync(dir)) {
      if (!f.endsWith(".pem")) continue;
      const path = join(dir, f);
      let st: Stats;
      try {
        st = statSync(path);
      } catch {
        continue; // removed between the listing and now
      }
      result.files += 1;
      const stem = f.slice(0, -4);
      const stemKeyed = isDeviceName(stem);
      const key = stemKeyed ? packHex(stem) : f;
      const before = (stemKeyed ? files.byStem : files.other).get(key);
      if (before !== undefined) {
        present.add(before);
        if (slots.sameStat(before, st)) continue;
      }
      try {
        const parsed = parseDeviceCertificate(readFileSync(path, "utf8"));
        if (before !== undefined) this.dropFile(files, before);
        // Not cached: its PEM would be kept until the first reading checks it (13.8 MB at
        // 100,000 devices); the first reading reads the file again (0.15 ms), as after an eviction.
        const slot = slots.take();
        const device = stemKeyed && stem === parsed.name ? key : packHex(parsed.name);
        const serial = packHex(parsed.serialNumber);
        slots.setStat(slot, st);
        slots.notAfter[slot] = parsed.notAfter.getTime();
        slots.folder[slot] = index;
        slots.stemKeyed[slot] = stemKeyed ? 1 : 0;
        slots.fileKey[slot] = key;
        slots.device[slot] = device;
        slots.serial[slot] = serial;
        (stemKeyed ? files.byStem : files.other).set(key, slot);
        present.add(slot);
        this.addRef(device, serial, slot);
        result.parsed += 1;
      } catch (err) {
        result.failed.push({ file: path, error: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const map of [files.byStem, files.other])
      for (const slot of [...map.values()])
        if (!present.has(slot)) {
          this.dropFile(files, slot);
          result.removed += 1;
        }
    files.stamp = stamp;
    return result;
  }

  /** Devices with at least one certificate loaded. */
  get size(): number {
    return this.entries.size;
  }

  /** The names of the enrolled devices (the fleet page lists them before they send anything). */
  names(): string[] {
    return [...this.entries.keys()].map(unpackHex);
  }

  /** The earliest notAfter among the devices' newest certificates not on the CRL (metrics), or null. */
  earliestExpiry(): Date | null {
    let earliest = Number.POSITIVE_INFINITY;
    for (const refs of this.entries.values()) {
      const newest = Array.isArray(refs) ? refs.at(-1) : refs;
      if (newest === undefined) continue;
      const notAfter = this.notAfterOf(newest);
      if (notAfter < earliest && !this.revoked.has(unpackHex(this.serialOf(newest)))) earliest = notAfter;
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
    const refs = isDeviceName(name) ? this.entries.get(packHex(name)) : undefined;
    const list = refs === undefined ? [] : Array.isArray(refs) ? refs : [refs];
    if (!list.length) {
      throw new ReadingRejectedError("no_certificate", "No enrolled certificate for this device.", {
        details: `device ${name}`,
      });
    }
    // The newest certificate, or the newest one that carries the given reading key.
    let chosen: Loaded | undefined;
    let newest: Loaded | undefined;
    for (let i = list.length - 1; i >= 0 && !chosen; i--) {
      const l = this.load(name, list[i] as Ref);
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
