import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  deviceSanUri,
  parseDeviceSanUri,
  parseReadingKeySanUri,
  publicKeyOf,
  randomSecretKey,
  readingKeySanUri,
} from "../protocol/index.js";
import { CertificateRequestError } from "./errors.js";

/**
 * The fleet PKI: an offline root, an issuing intermediate that issues the broker's server
 * certificate, bridge client certificates and device certificates, and a CRL.
 */

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

export type IssuedCertificate = { certPem: string; keyPem: string };

export type FleetCa = {
  /** The chain a TLS peer trusts: issuing CA then root (Mosquitto's cafile, clients' ca). */
  certPem: string;
  rootPem: string;
  intermediatePem: string;
  /** Put a certificate on the CRL. */
  revoke(certPem: string): void;
  /** The current CRL, signed by the issuing CA (Mosquitto's crlfile; the bridge follows it). */
  crlPem(): Promise<string>;
  issueServer(params: {
    commonName: string;
    dnsNames?: string[];
    ips?: string[];
  }): Promise<IssuedCertificate>;
  issueClient(params: { commonName: string; validDays?: number }): Promise<IssuedCertificate>;
  /** A device: TLS key, certificate and the key that signs readings (the same key for P-256). */
  issueDevice(params: IssueDeviceParameters): Promise<IssuedDevice>;
  /**
   * A device certificate from the device's CSR (device-agent/csr.ts), after checking that the CSR
   * is signed by the P-256 key it carries, that a secp256k1 device names its reading key, and
   * that the name it asks for is the one its key (or, on rotation, `deviceId`) gives.
   */
  issueDeviceFromCsr(csrPem: string, params: IssueDeviceFromCsrParameters): Promise<IssuedDeviceFromCsr>;
};

export type IssueDeviceFromCsrParameters = {
  curve: CurveName;
  /** The device id to certify (a rotation keeps the old one); derived from the reading key when absent. */
  deviceId?: `0x${string}`;
  notBefore?: Date;
  notAfter?: Date;
};

export type IssuedDeviceFromCsr = IssuedDeviceCertificate & {
  readingPublicKey: Uint8Array;
  tlsPublicKey: Uint8Array;
};

export type IssuedDeviceCertificate = {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  certPem: string;
};

export type IssueDeviceParameters = {
  curve: CurveName;
  /** Software reading key for secp256k1 devices (32-byte secret); generated when absent. */
  readingSecretKey?: Uint8Array;
  notBefore?: Date;
  notAfter?: Date;
};

export type IssuedDevice = IssuedCertificate & {
  curve: CurveName;
  deviceId: `0x${string}`;
  name: string;
  readingSecretKey: Uint8Array;
  readingPublicKey: Uint8Array;
};

async function pemKey(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function rawPublic(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

async function secretScalar(key: CryptoKey): Promise<Uint8Array> {
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return Buffer.from(jwk.d as string, "base64url");
}

export async function createFleetCa(
  params: { commonName?: string; validDays?: number } = {},
): Promise<FleetCa> {
  // An offline root (in the field its key never touches a networked host) certifies one issuing
  // intermediate; the intermediate issues every other certificate and signs the CRL.
  const rootKeys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const name = params.commonName ?? "sensor-oracle fleet";
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name} root CA`,
    keys: rootKeys,
    notBefore,
    notAfter: new Date(Date.now() + (params.validDays ?? 7300) * 86_400_000),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const caKeys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const caCert = await x509.X509CertificateGenerator.create({
    subject: `CN=${name} issuing CA`,
    issuer: rootCert.subject,
    publicKey: caKeys.publicKey,
    signingKey: rootKeys.privateKey,
    notBefore,
    notAfter: new Date(Date.now() + Math.min(params.validDays ?? 3650, 3650) * 86_400_000),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCert, false),
    ],
  });
  return fleetCaFrom({ rootCert, rootKeys, caCert, caKeys, revoked: [] });
}

const caStates = new WeakMap<FleetCa, CaState>();

type CaState = {
  rootCert: x509.X509Certificate;
  /** Absent when the root key is kept offline (the fleet directory then holds only the issuing key). */
  rootKeys?: CryptoKeyPair;
  caCert: x509.X509Certificate;
  caKeys: CryptoKeyPair;
  revoked: { serialNumber: string; revocationDate: Date }[];
};

function fleetCaFrom(state: CaState): FleetCa {
  const { rootCert, caCert, caKeys, revoked } = state;
  const notBefore = new Date(Date.now() - 60_000);

  async function issue(
    subject: string,
    publicKey: CryptoKey,
    extensions: x509.Extension[],
    from: Date,
    to: Date,
  ): Promise<string> {
    const cert = await x509.X509CertificateGenerator.create({
      subject,
      issuer: caCert.subject,
      publicKey,
      signingKey: caKeys.privateKey,
      notBefore: from,
      notAfter: to,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
        ...extensions,
      ],
    });
    return cert.toString("pem");
  }

  const days = (n: number) => new Date(Date.now() + n * 86_400_000);

  /** A device certificate: CN and SAN name the device; a secp256k1 device's SAN names its reading key. */
  async function issueDeviceCertificate(
    curve: CurveName,
    name: string,
    tlsKey: CryptoKey,
    readingPublicKey: Uint8Array,
    from: Date | undefined,
    to: Date | undefined,
  ): Promise<string> {
    return issue(
      `CN=${name}`,
      tlsKey,
      [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: deviceSanUri(name) },
          ...(curve === "secp256k1"
            ? [{ type: "url" as const, value: readingKeySanUri(curve, readingPublicKey) }]
            : []),
        ]),
      ],
      from ?? notBefore,
      to ?? days(397),
    );
  }

  const ca: FleetCa = {
    certPem: `${caCert.toString("pem")}\n${rootCert.toString("pem")}\n`,
    rootPem: rootCert.toString("pem"),
    intermediatePem: caCert.toString("pem"),

    revoke(certPem: string) {
      const serialNumber = new x509.X509Certificate(certPem).serialNumber;
      if (!revoked.some((r) => r.serialNumber === serialNumber)) {
        revoked.push({ serialNumber, revocationDate: new Date() });
      }
    },

    async crlPem() {
      const crl = await x509.X509CrlGenerator.create({
        issuer: caCert.subject,
        thisUpdate: new Date(Date.now() - 60_000),
        nextUpdate: new Date(Date.now() + 7 * 86_400_000),
        signingAlgorithm: SIGN,
        signingKey: caKeys.privateKey,
        entries: revoked.map((r) => ({ ...r, reason: x509.X509CrlReason.keyCompromise })),
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert, false)],
      });
      // OpenSSL (Mosquitto's crlfile) wants the "X509 CRL" PEM label, not "CRL".
      return x509.PemConverter.encode(crl.rawData, "X509 CRL");
    },

    async issueServer({ commonName, dnsNames = ["localhost"], ips = ["127.0.0.1"] }) {
      const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
      const certPem = await issue(
        `CN=${commonName}`,
        keys.publicKey,
        [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([
            ...dnsNames.map((value) => ({ type: "dns" as const, value })),
            ...ips.map((value) => ({ type: "ip" as const, value })),
          ]),
        ],
        notBefore,
        days(825),
      );
      return { certPem, keyPem: await pemKey(keys.privateKey) };
    },

    async issueClient({ commonName, validDays = 825 }) {
      const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
      const certPem = await issue(
        `CN=${commonName}`,
        keys.publicKey,
        [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ],
        notBefore,
        days(validDays),
      );
      return { certPem, keyPem: await pemKey(keys.privateKey) };
    },

    async issueDeviceFromCsr(csrPem, { curve, deviceId: givenId, notBefore: from, notAfter: to }) {
      let csr: x509.Pkcs10CertificateRequest;
      try {
        csr = new x509.Pkcs10CertificateRequest(csrPem);
      } catch (cause) {
        throw new CertificateRequestError("malformed", "The certificate request is not a PKCS#10 CSR.", {
          cause,
        });
      }
      const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
      if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256")
        throw new CertificateRequestError(
          "wrong_key",
          "The certificate request's key is not a P-256 key (a device's TLS key is P-256).",
          { details: `${alg.name} ${alg.namedCurve ?? ""}`.trim() },
        );
      if (!(await csr.verify(crypto)))
        throw new CertificateRequestError(
          "bad_signature",
          "The certificate request is not signed by the key it carries.",
        );
      const tlsKey = await csr.publicKey.export(EC, ["verify"], crypto);
      const tlsPublicKey = await rawPublic(tlsKey);
      const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
      const uris = ((san as x509.SubjectAlternativeNameExtension | undefined)?.names.items ?? [])
        .filter((n) => n.type === "url")
        .map((n) => n.value);
      let readingPublicKey = tlsPublicKey;
      if (curve === "secp256k1") {
        const named = uris.map(parseReadingKeySanUri).find((k) => k?.curve === "secp256k1");
        if (!named)
          throw new CertificateRequestError(
            "reading_key_missing",
            "A secp256k1 device's certificate request must name its reading key in a SAN URI.",
          );
        readingPublicKey = named.publicKey;
      }
      const deviceId = givenId ?? deviceIdOf(curve, readingPublicKey);
      const name = deviceIdToName(deviceId);
      const asked = uris.map(parseDeviceSanUri).filter((n): n is string => n !== null);
      for (const n of [...asked, ...csr.subjectName.getField("CN")]) {
        if (n !== name)
          throw new CertificateRequestError(
            "name_mismatch",
            "The certificate request asks for another device's name than its key gives.",
            { details: `asked ${n}, key gives ${name}` },
          );
      }
      const certPem = await issueDeviceCertificate(curve, name, tlsKey, readingPublicKey, from, to);
      return { curve, deviceId, name, certPem, readingPublicKey, tlsPublicKey };
    },

    async issueDevice({ curve, readingSecretKey, notBefore: from, notAfter: to }) {
      const tlsKeys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
      let readingSk: Uint8Array;
      if (curve === "p256") {
        readingSk = await secretScalar(tlsKeys.privateKey);
      } else {
        readingSk = readingSecretKey ?? randomSecretKey("secp256k1");
      }
      const readingPk = curve === "p256" ? await rawPublic(tlsKeys.publicKey) : publicKeyOf(curve, readingSk);
      const deviceId = deviceIdOf(curve, readingPk);
      const name = deviceIdToName(deviceId);
      const certPem = await issueDeviceCertificate(curve, name, tlsKeys.publicKey, readingPk, from, to);
      return {
        curve,
        deviceId,
        name,
        certPem,
        keyPem: await pemKey(tlsKeys.privateKey),
        readingSecretKey: readingSk,
        readingPublicKey: readingPk,
      };
    },
  };
  caStates.set(ca, state);
  return ca;
}

const FILES = {
  root: "root-ca.pem",
  rootKey: "root-ca.key",
  issuing: "issuing-ca.pem",
  issuingKey: "issuing-ca.key",
  chain: "ca-chain.pem",
  crl: "crl.pem",
  revoked: "revoked.json",
} as const;

/** Write the CA to a folder: keys as PKCS#8 PEM (mode 0600), certificates, chain, CRL, revocations. */
export async function saveFleetCa(ca: FleetCa, dir: string): Promise<void> {
  const state = caStates.get(ca);
  if (!state) throw new TypeError("not a FleetCa from this module");
  mkdirSync(dir, { recursive: true });
  const secret = (name: string, body: string) => writeFileSync(join(dir, name), body, { mode: 0o600 });
  if (state.rootKeys) secret(FILES.rootKey, await pemKey(state.rootKeys.privateKey));
  secret(FILES.issuingKey, await pemKey(state.caKeys.privateKey));
  writeFileSync(join(dir, FILES.root), ca.rootPem);
  writeFileSync(join(dir, FILES.issuing), ca.intermediatePem);
  writeFileSync(join(dir, FILES.chain), ca.certPem);
  writeFileSync(join(dir, FILES.crl), await ca.crlPem());
  writeFileSync(join(dir, FILES.revoked), `${JSON.stringify(state.revoked, null, 2)}\n`);
}

/** Read a CA written by saveFleetCa. The root key is not needed (and may be kept offline). */
export async function loadFleetCa(dir: string): Promise<FleetCa> {
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  const caCert = new x509.X509Certificate(read(FILES.issuing));
  const der = x509.PemConverter.decode(read(FILES.issuingKey))[0] as ArrayBuffer;
  const privateKey = await crypto.subtle.importKey("pkcs8", der, EC, true, ["sign"]);
  const publicKey = await caCert.publicKey.export(EC, ["verify"], crypto);
  const revoked = (JSON.parse(read(FILES.revoked)) as { serialNumber: string; revocationDate: string }[]).map(
    (r) => ({
      serialNumber: r.serialNumber,
      revocationDate: new Date(r.revocationDate),
    }),
  );
  return fleetCaFrom({
    rootCert: new x509.X509Certificate(read(FILES.root)),
    caCert,
    caKeys: { privateKey, publicKey } as CryptoKeyPair,
    revoked,
  });
}

export const FLEET_CA_FILES = FILES;
