import "reflect-metadata";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  publicKeyOf,
  randomSecretKey,
} from "../protocol/index.js";
import {
  clientProfile,
  daysFromNow,
  deviceProfile,
  issueCertificate,
  serverProfile,
} from "./certificate-profile.js";
import { crypto, EC, generateP256, rawPublic, SIGN, secretScalar } from "./crypto.js";
import { reviewDeviceCsr } from "./csr-review.js";
import type {
  IssueDeviceFromCsrParameters,
  IssueDeviceParameters,
  IssuedCertificate,
  IssuedDevice,
  IssuedDeviceFromCsr,
} from "./issued.js";
import { importPrivateKeyPem, privateKeyPem } from "./pem.js";

/**
 * The fleet PKI: an offline root, an issuing intermediate that issues the broker's server
 * certificate, bridge client certificates and device certificates, and a CRL.
 */

export type {
  IssueDeviceFromCsrParameters,
  IssueDeviceParameters,
  IssuedCertificate,
  IssuedDevice,
  IssuedDeviceCertificate,
  IssuedDeviceFromCsr,
} from "./issued.js";

type Revocation = { serialNumber: string; revocationDate: Date };

/** The files of a CA folder (saveFleetCa, loadFleetCa). */
export const FLEET_CA_FILES = {
  root: "root-ca.pem",
  rootKey: "root-ca.key",
  issuing: "issuing-ca.pem",
  issuingKey: "issuing-ca.key",
  chain: "ca-chain.pem",
  crl: "crl.pem",
  revoked: "revoked.json",
} as const;

const FILES = FLEET_CA_FILES;

export class FleetCa {
  /** The chain a TLS peer trusts: issuing CA then root (Mosquitto's cafile, clients' ca). */
  readonly certPem: string;
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly #rootCert: x509.X509Certificate;
  /** Absent when the root key is kept offline (the fleet directory then holds only the issuing key). */
  readonly #rootKeys: CryptoKeyPair | undefined;
  readonly #caCert: x509.X509Certificate;
  readonly #caKeys: CryptoKeyPair;
  readonly #revoked: Revocation[];
  /** The default start of validity of what this CA issues (a minute back, for clock skew). */
  readonly #notBefore = new Date(Date.now() - 60_000);

  private constructor(s: {
    rootCert: x509.X509Certificate;
    rootKeys?: CryptoKeyPair;
    caCert: x509.X509Certificate;
    caKeys: CryptoKeyPair;
    revoked: Revocation[];
  }) {
    this.#rootCert = s.rootCert;
    this.#rootKeys = s.rootKeys;
    this.#caCert = s.caCert;
    this.#caKeys = s.caKeys;
    this.#revoked = s.revoked;
    this.rootPem = s.rootCert.toString("pem");
    this.intermediatePem = s.caCert.toString("pem");
    this.certPem = `${this.intermediatePem}\n${this.rootPem}\n`;
  }

  /** A new root and issuing CA, both kept in memory (saveFleetCa writes them out). */
  static async create(params: { commonName?: string; validDays?: number } = {}): Promise<FleetCa> {
    // An offline root (in the field its key never touches a networked host) certifies one issuing
    // intermediate; the intermediate issues every other certificate and signs the CRL.
    const rootKeys = await generateP256();
    const notBefore = new Date(Date.now() - 60_000);
    const name = params.commonName ?? "sensor-oracle fleet";
    const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${name} root CA`,
      keys: rootKeys,
      notBefore,
      notAfter: daysFromNow(params.validDays ?? 7300),
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
      ],
    });
    const caKeys = await generateP256();
    const caCert = await x509.X509CertificateGenerator.create({
      subject: `CN=${name} issuing CA`,
      issuer: rootCert.subject,
      publicKey: caKeys.publicKey,
      signingKey: rootKeys.privateKey,
      notBefore,
      notAfter: daysFromNow(Math.min(params.validDays ?? 3650, 3650)),
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(rootCert, false),
      ],
    });
    return new FleetCa({ rootCert, rootKeys, caCert, caKeys, revoked: [] });
  }

  /** Read a CA written by save. The root key is not needed (and may be kept offline). */
  static async load(dir: string): Promise<FleetCa> {
    const read = (name: string) => readFileSync(join(dir, name), "utf8");
    const caCert = new x509.X509Certificate(read(FILES.issuing));
    const privateKey = await importPrivateKeyPem(read(FILES.issuingKey));
    const publicKey = await caCert.publicKey.export(EC, ["verify"], crypto);
    const revoked = (
      JSON.parse(read(FILES.revoked)) as { serialNumber: string; revocationDate: string }[]
    ).map((r) => ({ serialNumber: r.serialNumber, revocationDate: new Date(r.revocationDate) }));
    return new FleetCa({
      rootCert: new x509.X509Certificate(read(FILES.root)),
      caCert,
      caKeys: { privateKey, publicKey } as CryptoKeyPair,
      revoked,
    });
  }

  /** Write the CA to a folder: keys as PKCS#8 PEM (mode 0600), certificates, chain, CRL, revocations. */
  async save(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const secret = (name: string, body: string) => writeFileSync(join(dir, name), body, { mode: 0o600 });
    if (this.#rootKeys) secret(FILES.rootKey, await privateKeyPem(this.#rootKeys.privateKey));
    secret(FILES.issuingKey, await privateKeyPem(this.#caKeys.privateKey));
    writeFileSync(join(dir, FILES.root), this.rootPem);
    writeFileSync(join(dir, FILES.issuing), this.intermediatePem);
    writeFileSync(join(dir, FILES.chain), this.certPem);
    writeFileSync(join(dir, FILES.crl), await this.crlPem());
    writeFileSync(join(dir, FILES.revoked), `${JSON.stringify(this.#revoked, null, 2)}\n`);
  }

  /** Put a certificate on the CRL. */
  revoke(certPem: string): void {
    const serialNumber = new x509.X509Certificate(certPem).serialNumber;
    if (!this.#revoked.some((r) => r.serialNumber === serialNumber)) {
      this.#revoked.push({ serialNumber, revocationDate: new Date() });
    }
  }

  /** The current CRL, signed by the issuing CA (Mosquitto's crlfile; the bridge follows it). */
  async crlPem(): Promise<string> {
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.#caCert.subject,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: daysFromNow(7),
      signingAlgorithm: SIGN,
      signingKey: this.#caKeys.privateKey,
      entries: this.#revoked.map((r) => ({ ...r, reason: x509.X509CrlReason.keyCompromise })),
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(this.#caCert, false)],
    });
    // OpenSSL (Mosquitto's crlfile) wants the "X509 CRL" PEM label, not "CRL".
    return x509.PemConverter.encode(crl.rawData, "X509 CRL");
  }

  async issueServer({
    commonName,
    dnsNames = ["localhost"],
    ips = ["127.0.0.1"],
  }: {
    commonName: string;
    dnsNames?: string[];
    ips?: string[];
  }): Promise<IssuedCertificate> {
    return this.#issueWithNewKey(`CN=${commonName}`, serverProfile(dnsNames, ips), 825);
  }

  async issueClient({
    commonName,
    validDays = 825,
  }: {
    commonName: string;
    validDays?: number;
  }): Promise<IssuedCertificate> {
    return this.#issueWithNewKey(`CN=${commonName}`, clientProfile(), validDays);
  }

  /**
   * A device certificate from the device's CSR (device-agent/csr.ts), after the review in
   * pki/csr-review.ts: the CSR is signed by the P-256 key it carries, a secp256k1 device names its
   * reading key, and the name it asks for is the one its key (or, on rotation, `deviceId`) gives.
   */
  async issueDeviceFromCsr(csrPem: string, p: IssueDeviceFromCsrParameters): Promise<IssuedDeviceFromCsr> {
    const r = await reviewDeviceCsr(csrPem, {
      curve: p.curve,
      ...(p.deviceId ? { deviceId: p.deviceId } : {}),
    });
    const certPem = await this.#issueDevice(
      r.curve,
      r.name,
      r.tlsKey,
      r.readingPublicKey,
      p.notBefore,
      p.notAfter,
    );
    const { curve, deviceId, name, readingPublicKey, tlsPublicKey } = r;
    return { curve, deviceId, name, certPem, readingPublicKey, tlsPublicKey };
  }

  /** A device: TLS key, certificate and the key that signs readings (the same key for P-256). */
  async issueDevice({
    curve,
    readingSecretKey,
    notBefore,
    notAfter,
  }: IssueDeviceParameters): Promise<IssuedDevice> {
    const tlsKeys = await generateP256();
    const readingSk =
      curve === "p256"
        ? await secretScalar(tlsKeys.privateKey)
        : (readingSecretKey ?? randomSecretKey("secp256k1"));
    const readingPk = curve === "p256" ? await rawPublic(tlsKeys.publicKey) : publicKeyOf(curve, readingSk);
    const deviceId = deviceIdOf(curve, readingPk);
    const name = deviceIdToName(deviceId);
    const certPem = await this.#issueDevice(curve, name, tlsKeys.publicKey, readingPk, notBefore, notAfter);
    return {
      curve,
      deviceId,
      name,
      certPem,
      keyPem: await privateKeyPem(tlsKeys.privateKey),
      readingSecretKey: readingSk,
      readingPublicKey: readingPk,
    };
  }

  get #issuer() {
    return { cert: this.#caCert, keys: this.#caKeys };
  }

  async #issueWithNewKey(
    subject: string,
    extensions: x509.Extension[],
    days: number,
  ): Promise<IssuedCertificate> {
    const keys = await generateP256();
    const certPem = await issueCertificate(this.#issuer, {
      subject,
      publicKey: keys.publicKey,
      extensions,
      notBefore: this.#notBefore,
      notAfter: daysFromNow(days),
    });
    return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
  }

  /** A device certificate: CN and SAN name the device; a secp256k1 device's SAN names its reading key. */
  #issueDevice(
    curve: CurveName,
    name: string,
    tlsKey: CryptoKey,
    readingPublicKey: Uint8Array,
    from: Date | undefined,
    to: Date | undefined,
  ): Promise<string> {
    return issueCertificate(this.#issuer, {
      subject: `CN=${name}`,
      publicKey: tlsKey,
      extensions: deviceProfile(curve, name, readingPublicKey),
      notBefore: from ?? this.#notBefore,
      notAfter: to ?? daysFromNow(397),
    });
  }
}

/** A new fleet CA (FleetCa.create). */
export const createFleetCa = (params: { commonName?: string; validDays?: number } = {}): Promise<FleetCa> =>
  FleetCa.create(params);

/** Read a CA written by saveFleetCa (FleetCa.load). */
export const loadFleetCa = (dir: string): Promise<FleetCa> => FleetCa.load(dir);

/** Write the CA to a folder (FleetCa.save). */
export const saveFleetCa = (ca: FleetCa, dir: string): Promise<void> => ca.save(dir);
