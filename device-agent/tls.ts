import { existsSync } from "node:fs";
import { basename, dirname } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { findPkcs11Engine } from "./engine.js";
import { TokenError } from "./errors.js";

export type TokenTlsParameters = {
  ca: string;
  cert: string;
  /** Token label and key label of the TLS key; the PIN comes from a file, never the URI itself. */
  token: string;
  keyLabel: string;
  pinFile: string;
  /** The OpenSSL pkcs11 engine; when absent, found for this machine's architecture (engine.ts). */
  engine?: string | undefined;
};

/**
 * A TLS client context whose private key stays in the token: OpenSSL's pkcs11 engine signs the
 * handshake. The engine is named by id with OPENSSL_ENGINES pointing at its folder (set here, for
 * this process): loading it by path a second time in one process failed ("engine routines::init
 * failed"), by id it serves any number of contexts. Build the context once per key and reuse it
 * for every (re)connection. There is no software fallback: without the engine this throws,
 * naming what to install.
 */
export function tokenTlsContext(p: TokenTlsParameters): SecureContext {
  // A configured path is used as it is (or refused when missing); otherwise looked up for this machine.
  const engine = findPkcs11Engine({ configured: p.engine });
  if (!existsSync(p.pinFile))
    throw new TokenError("pin_missing", "PIN file not found.", { details: p.pinFile });
  process.env.OPENSSL_ENGINES = dirname(engine);
  const engineId = basename(engine).replace(/^lib/, "").replace(/\.so$/, "");
  const uri = `pkcs11:token=${encodeURIComponent(p.token)};object=${encodeURIComponent(p.keyLabel)};type=private;pin-source=file:${p.pinFile}`;
  try {
    return createSecureContext({
      ca: p.ca,
      cert: p.cert,
      privateKeyEngine: engineId,
      privateKeyIdentifier: uri,
      minVersion: "TLSv1.3",
    } as Parameters<typeof createSecureContext>[0]);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    const msg = err instanceof Error ? err.message : String(err);
    if (code === "ERR_OSSL_PIN_INCORRECT" || /pin incorrect/i.test(msg)) {
      throw new TokenError("pin_incorrect", "The token refused the PIN (TLS key).", { details: p.token });
    }
    if (code === "ERR_OSSL_X509_KEY_VALUES_MISMATCH") {
      throw new TokenError("key_not_found", "The certificate is not for the token's TLS key.", {
        details: `token ${p.token}, key ${p.keyLabel}`,
      });
    }
    throw new TokenError("key_not_found", "The TLS key could not be loaded from the token.", {
      details: `token ${p.token}, key ${p.keyLabel}: ${msg}`,
      cause: err,
    });
  }
}
