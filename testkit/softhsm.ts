import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

export type SoftHsm = {
  dir: string;
  label: string;
  pinFile: string;
  pin: string;
  conf: string;
  cleanup(): void;
};

/** The CLI's options naming this token and its PIN file (or another PIN file). */
export function tokenCliOptions(hsm: SoftHsm, pinFile = hsm.pinFile): string[] {
  return ["--module", SOFTHSM_MODULE, "--token-label", hsm.label, "--pin-file", pinFile];
}

/**
 * A fresh SoftHSM2 token in its own folder. SOFTHSM2_CONF is set in this process's environment,
 * which SoftHSM2 reads when it is initialised (also through p11-kit by the OpenSSL engine).
 */
export function createSoftHsmToken(label = "so-test"): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), "so-softhsm-"));
  mkdirSync(join(dir, "tokens"));
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(
    conf,
    `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  const pin = "246813";
  execFileSync(
    "softhsm2-util",
    ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "975310"],
    {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: "ignore",
    },
  );
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return { dir, label, pinFile, pin, conf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
