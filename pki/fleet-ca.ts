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
import { KeyFileError } from "./errors.js";
import type {
  IssueDeviceFromCsrParameters,
  IssueDeviceParameters,
  IssuedCertificate,
  IssuedDevice,
  IssuedDeviceFromCsr,
} from "./issued.js";
import {
  CA_PASSPHRASE_ENV,
  decryptPrivateKeyPem,
  encryptPrivateKeyPem,
  isEncryptedKeyPem,
  readPrivateKeyFile,
  writePrivateKeyFile,
} from "./key-file.js";
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

/** How FleetCa.save keeps the root key: encrypted under this passphrase ($SO_CA_PASSPHRASE when absent). */
export type FleetCaSaveOptions = { rootPassphrase?: string };
/** FleetCa.load opens the (encrypted) root key only when given its passphrase. */
export type FleetCaLoadOptions = { rootPassphrase?: string };

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
    const { caCert, caKeys } = await newIssuingCa(rootCert, rootKeys, name, params.validDays);
    return new FleetCa({ rootCert, rootKeys, caCert, caKeys, revoked: [] });
  }

  /**
   * A new issuing CA (new key) under the same root: needs the root key (load with its passphrase).
   * Certificates the old issuing CA signed keep chaining while its certificate stays in the
   * fleet's CA bundle; the CRL is signed by the new one from now on.
   */
  async renewIssuingCa(params: { validDays?: number } = {}): Promise<FleetCa> {
    if (!this.#rootKeys)
      throw new KeyFileError(
        "passphrase_missing",
        "Renewing the issuing CA needs the root key (its passphrase).",
      );
    const name =
      this.#rootCert.subjectName.getField("CN")[0]?.replace(/ root CA$/, "") ?? "sensor-oracle fleet";
    const { caCert, caKeys } = await newIssuingCa(this.#rootCert, this.#rootKeys, name, params.validDays);
    return new FleetCa({
      rootCert: this.#rootCert,
      rootKeys: this.#rootKeys,
      caCert,
      caKeys,
      revoked: this.#revoked,
    });
  }

  /**
   * Read a CA written by save. The root key is not needed (and may be kept offline); with
   * `rootPassphrase` the encrypted root key is opened too (to make or renew an issuing CA). A key
   * file that group or others can read is refused (KeyFileError "exposed").
   */
  static async load(dir: string, opts: FleetCaLoadOptions = {}): Promise<FleetCa> {
    const read = (name: string) => readFileSync(join(dir, name), "utf8");
    const caCert = new x509.X509Certificate(read(FILES.issuing));
    const privateKey = await importPrivateKeyPem(readPrivateKeyFile(join(dir, FILES.issuingKey)));
    const publicKey = await caCert.publicKey.export(EC, ["verify"], crypto);
    const revoked = (
      JSON.parse(read(FILES.revoked)) as { serialNumber: string; revocationDate: string }[]
    ).map((r) => ({ serialNumber: r.serialNumber, revocationDate: new Date(r.revocationDate) }));
    const rootCert = new x509.X509Certificate(read(FILES.root));
    let rootKeys: CryptoKeyPair | undefined;
    if (opts.rootPassphrase !== undefined) {
      const file = join(dir, FILES.rootKey);
      const pem = readPrivateKeyFile(file);
      const plain = isEncryptedKeyPem(pem) ? decryptPrivateKeyPem(pem, opts.rootPassphrase, file) : pem;
      rootKeys = {
        privateKey: await importPrivateKeyPem(plain),
        publicKey: await rootCert.publicKey.export(EC, ["verify"], crypto),
      } as CryptoKeyPair;
    }
    return new FleetCa({
      rootCert,
      ...(rootKeys ? { rootKeys } : {}),
      caCert,
      caKeys: { privateKey, publicKey } as CryptoKeyPair,
      revoked,
    });
  }

  /**
   * A CA whose root and issuing certificates were made elsewhere (OpenSSL, step-ca, Vault PKI):
   * the issuing CA's P-256 key (PKCS#8 PEM) signs what this fleet issues. The issuing certificate
   * must be signed by the root and be a CA; the key must be the certificate's.
   */
  static async fromExternal(p: {
    rootPem: string;
    issuingPem: string;
    issuingKeyPem: string;
  }): Promise<FleetCa> {
    const rootCert = new x509.X509Certificate(p.rootPem);
    const caCert = new x509.X509Certificate(p.issuingPem);
    if (!(await caCert.verify({ publicKey: rootCert.publicKey, signatureOnly: true }).catch(() => false)))
      throw new KeyFileError("missing", "The issuing CA certificate is not signed by the root given.");
    const alg = caCert.publicKey.algorithm as EcKeyAlgorithm;
    if (alg.namedCurve !== "P-256")
      throw new KeyFileError("missing", "The issuing CA's key must be a P-256 key.", {
        details: `${alg.name} ${alg.namedCurve ?? ""}`,
      });
    const privateKey = await importPrivateKeyPem(p.issuingKeyPem);
    const publicKey = await caCert.publicKey.export(EC, ["verify"], crypto);
    const probe = new TextEncoder().encode("sensor-oracle issuing key check");
    const sig = await crypto.subtle.sign(SIGN, privateKey, probe);
    if (!(await crypto.subtle.verify(SIGN, publicKey, sig, probe)))
      throw new KeyFileError("missing", "The issuing CA key is not the issuing certificate's key.");
    return new FleetCa({ rootCert, caCert, caKeys: { privateKey, publicKey } as CryptoKeyPair, revoked: [] });
  }

  /**
   * Write the CA to a folder: the issuing key as PKCS#8 PEM (0600), the root key (when this CA
   * holds it) as encrypted PKCS#8 (0600) under `rootPassphrase` or $SO_CA_PASSPHRASE (neither:
   * KeyFileError "passphrase_missing", nothing written), certificates, chain, CRL, revocations.
   */
  async save(dir: string, opts: FleetCaSaveOptions = {}): Promise<void> {
    const passphrase = opts.rootPassphrase ?? process.env[CA_PASSPHRASE_ENV];
    if (this.#rootKeys && !passphrase)
      throw new KeyFileError(
        "passphrase_missing",
        `The root CA key is written encrypted: give a passphrase (--passphrase-file, $${CA_PASSPHRASE_ENV} or the prompt).`,
      );
    mkdirSync(dir, { recursive: true });
    const secret = (name: string, body: string) => writePrivateKeyFile(join(dir, name), body);
    if (this.#rootKeys && passphrase)
      secret(FILES.rootKey, encryptPrivateKeyPem(await privateKeyPem(this.#rootKeys.privateKey), passphrase));
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
      ...(p.expectedName !== undefined ? { expectedName: p.expectedName } : {}),
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

  /**
   * A P-256 device certificate for a key the device already holds (a factory key whose
   * manufacturer certificate the caller has checked, fleet/factory-keys.ts): the reading key is
   * the TLS key, the name is the one the key gives.
   */
  async issueDeviceForKey(
    publicKey: Uint8Array,
    p: { notBefore?: Date; notAfter?: Date } = {},
  ): Promise<IssuedDeviceFromCsr> {
    const tlsKey = await crypto.subtle.importKey("raw", Buffer.from(publicKey), EC, true, ["verify"]);
    const deviceId = deviceIdOf("p256", publicKey);
    const name = deviceIdToName(deviceId);
    const certPem = await this.#issueDevice("p256", name, tlsKey, publicKey, p.notBefore, p.notAfter);
    return { curve: "p256", deviceId, name, certPem, readingPublicKey: publicKey, tlsPublicKey: publicKey };
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

/** An issuing CA certified by the root: what `create` makes and `renewIssuingCa` makes again. */
async function newIssuingCa(
  rootCert: x509.X509Certificate,
  rootKeys: CryptoKeyPair,
  name: string,
  validDays: number | undefined,
): Promise<{ caCert: x509.X509Certificate; caKeys: CryptoKeyPair }> {
  const caKeys = await generateP256();
  const caCert = await x509.X509CertificateGenerator.create({
    subject: `CN=${name} issuing CA`,
    issuer: rootCert.subject,
    publicKey: caKeys.publicKey,
    signingKey: rootKeys.privateKey,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: daysFromNow(Math.min(validDays ?? 3650, 3650)),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert, false),
    ],
  });
  return { caCert, caKeys };
}

/** A new fleet CA (FleetCa.create). */
export const createFleetCa = (params: { commonName?: string; validDays?: number } = {}): Promise<FleetCa> =>
  FleetCa.create(params);

/** Read a CA written by saveFleetCa (FleetCa.load). */
export const loadFleetCa = (dir: string, opts: FleetCaLoadOptions = {}): Promise<FleetCa> =>
  FleetCa.load(dir, opts);

/** Write the CA to a folder (FleetCa.save). */
export const saveFleetCa = (ca: FleetCa, dir: string, opts: FleetCaSaveOptions = {}): Promise<void> =>
  ca.save(dir, opts);
