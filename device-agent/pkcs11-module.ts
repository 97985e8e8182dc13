import pkcs11js from "pkcs11js";
import { TokenError } from "./errors.js";

/** A failed PKCS#11 call as a TokenError: a refused PIN by its own name, never the PIN itself. */
export function tokenFailure(err: unknown, what: string): TokenError {
  const code = (err as { code?: number }).code;
  if (
    code === pkcs11js.CKR_PIN_INCORRECT ||
    code === pkcs11js.CKR_PIN_INVALID ||
    code === pkcs11js.CKR_PIN_LEN_RANGE
  ) {
    return new TokenError("pin_incorrect", "The token refused the PIN.", { details: what });
  }
  return new TokenError("token_failure", `PKCS#11 call failed: ${what}.`, {
    details: err instanceof Error ? err.message : String(err),
    cause: err,
  });
}

// One library instance per module path, initialised once and finalised when its last token
// closes: C_Initialize twice in a process fails (CKR_CRYPTOKI_ALREADY_INITIALIZED).
const modules = new Map<string, { lib: pkcs11js.PKCS11; refs: number }>();

export function acquireModule(path: string): pkcs11js.PKCS11 {
  const m = modules.get(path);
  if (m) {
    m.refs += 1;
    return m.lib;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (err) {
    throw tokenFailure(err, `loading ${path}`);
  }
  modules.set(path, { lib, refs: 1 });
  return lib;
}

export function releaseModule(path: string): void {
  const m = modules.get(path);
  if (!m) return;
  m.refs -= 1;
  if (m.refs > 0) return;
  modules.delete(path);
  try {
    m.lib.C_Finalize();
    m.lib.close();
  } catch {
    // already finalised
  }
}
