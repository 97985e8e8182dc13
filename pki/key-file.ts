import { createPrivateKey } from "node:crypto";
import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { KeyFileError } from "./errors.js";

/**
 * Private key files as a CA keeps them: written owner-only (0600), refused when group or others
 * can read them, and the root CA's key encrypted (PKCS#8 PBES2, AES-256-CBC, as OpenSSL writes
 * it) under a passphrase that never reaches a log or an error.
 */

/** The environment variable the CA passphrase may come from (CI, the demo, tests). */
export const CA_PASSPHRASE_ENV = "SO_CA_PASSPHRASE";

/** Write a private key (or any secret) owner-only; an existing file's mode is set to 0600 too. */
export function writePrivateKeyFile(path: string, body: string): void {
  writeFileSync(path, body, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Read a private key file, refusing one that group or others can read (KeyFileError "exposed"). */
export function readPrivateKeyFile(path: string): string {
  if (!existsSync(path)) throw new KeyFileError("missing", "Key file not found.", { details: path });
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077)
    throw new KeyFileError(
      "exposed",
      "Key file is readable by group or others: make it owner-only (chmod 600) before use.",
      { details: `${path} has mode ${mode.toString(8).padStart(3, "0")}` },
    );
  return readFileSync(path, "utf8");
}

/** A PKCS#8 PEM private key encrypted under a passphrase ("ENCRYPTED PRIVATE KEY"). */
export function encryptPrivateKeyPem(pem: string, passphrase: string): string {
  if (!passphrase)
    throw new KeyFileError("passphrase_missing", "An empty passphrase does not protect a key.");
  return createPrivateKey(pem)
    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase })
    .toString();
}

/** The plain PKCS#8 PEM of an encrypted key; a wrong passphrase is KeyFileError "passphrase_wrong". */
export function decryptPrivateKeyPem(pem: string, passphrase: string, file = "the key"): string {
  try {
    return createPrivateKey({ key: pem, format: "pem", passphrase })
      .export({ type: "pkcs8", format: "pem" })
      .toString();
  } catch (cause) {
    throw new KeyFileError("passphrase_wrong", "The passphrase does not open the encrypted key.", {
      details: file,
      cause,
    });
  }
}

/** Is this PEM an encrypted private key? */
export const isEncryptedKeyPem = (pem: string) => pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");

/** The uid and gid of a local user (from /etc/passwd), or undefined. */
function localUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":");
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {}
  return undefined;
}

/**
 * Give an owner-only key file to the service user that reads it (Mosquitto started as root drops
 * to user "mosquitto" before it loads its key): the file stays 0600. Only when running as root and
 * the user exists; returns whether it did.
 */
export function handKeyFileTo(path: string, user: string): boolean {
  if (process.getuid?.() !== 0) return false;
  const u = localUser(user);
  if (!u) return false;
  chownSync(path, u.uid, u.gid);
  return true;
}
