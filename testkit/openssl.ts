import { execFileSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CurveName,
  deviceIdOf,
  deviceIdToName,
  deviceSanUri,
  readingKeySanUri,
} from "../protocol/index.js";

/**
 * Keys, CSRs and CAs made with the openssl command, as a device or an operator who never ran
 * this project's code would make them (tests of enrolment and of bringing one's own CA).
 */

export const openssl = (dir: string, ...argv: string[]) =>
  execFileSync("openssl", argv, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }).toString();

/** An EC key (PKCS#8 PEM, 0600) made by openssl in `dir/file`; returns its 65-byte public key. */
export function opensslKey(dir: string, file: string, curve: CurveName): Uint8Array {
  const name = curve === "p256" ? "P-256" : "secp256k1";
  openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${name}`, "-out", file);
  return publicKeyOfPem(readFileSync(join(dir, file), "utf8"));
}

/** The 65-byte uncompressed public key of an EC private key PEM. */
export function publicKeyOfPem(pem: string): Uint8Array {
  const jwk = createPrivateKey(pem).export({ format: "jwk" });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, "base64url"),
    Buffer.from(jwk.y as string, "base64url"),
  ]);
}

/** The 32-byte secret of an EC private key PEM. */
export const secretOfPem = (pem: string): Uint8Array =>
  Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d as string, "base64url");

/**
 * A device CSR made by openssl req, signed by the P-256 TLS key in `tlsKeyFile`, asking for the
 * device name its reading key gives (CN and SAN URI) and, for secp256k1, naming the reading key.
 */
export function opensslDeviceCsr(
  dir: string,
  p: { tlsKeyFile: string; curve: CurveName; readingPublicKey: Uint8Array; out: string; name?: string },
): string {
  const name = p.name ?? deviceIdToName(deviceIdOf(p.curve, p.readingPublicKey));
  const uris = [`URI:${deviceSanUri(name)}`];
  if (p.curve === "secp256k1") uris.push(`URI:${readingKeySanUri("secp256k1", p.readingPublicKey)}`);
  openssl(
    dir,
    "req",
    "-new",
    "-key",
    p.tlsKeyFile,
    "-subj",
    `/CN=${name}`,
    "-addext",
    `subjectAltName=${uris.join(",")}`,
    "-out",
    p.out,
  );
  return name;
}

const CA_EXT = `[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

/**
 * A root and an issuing CA made by openssl in `dir` (root.pem/root.key, issuing.pem/issuing.key,
 * P-256, PKCS#8): what an operator who brings their own CA has.
 */
export function opensslCa(
  dir: string,
  name: string,
): { root: string; rootKey: string; issuing: string; issuingKey: string } {
  writeFileSync(join(dir, "ca-ext.cnf"), CA_EXT);
  opensslKey(dir, "root.key", "p256");
  openssl(
    dir,
    "req",
    "-x509",
    "-new",
    "-key",
    "root.key",
    "-subj",
    `/CN=${name} root`,
    "-days",
    "3650",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "root.pem",
  );
  opensslKey(dir, "issuing.key", "p256");
  openssl(dir, "req", "-new", "-key", "issuing.key", "-subj", `/CN=${name} issuing`, "-out", "issuing.csr");
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "issuing.csr",
    "-CA",
    "root.pem",
    "-CAkey",
    "root.key",
    "-CAcreateserial",
    "-days",
    "1825",
    "-extfile",
    "ca-ext.cnf",
    "-extensions",
    "v3_ca",
    "-out",
    "issuing.pem",
  );
  return {
    root: join(dir, "root.pem"),
    rootKey: join(dir, "root.key"),
    issuing: join(dir, "issuing.pem"),
    issuingKey: join(dir, "issuing.key"),
  };
}

/** openssl x509 -req: a certificate for a CSR from an openssl CA, the CSR's extensions copied. */
export function opensslSign(
  dir: string,
  p: { csr: string; caCert: string; caKey: string; out: string; leafExtensions?: boolean; subject?: string },
): void {
  writeFileSync(join(dir, "ca-ext.cnf"), CA_EXT);
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    p.csr,
    "-CA",
    p.caCert,
    "-CAkey",
    p.caKey,
    "-CAcreateserial",
    "-days",
    "365",
    "-copy_extensions",
    "copy",
    "-extfile",
    "ca-ext.cnf",
    "-extensions",
    p.leafExtensions === false ? "v3_ca" : "v3_leaf",
    "-out",
    p.out,
  );
}
