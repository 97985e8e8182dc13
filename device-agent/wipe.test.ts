import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDeviceKeys } from "../fleet/enroll.js";
import { WipeError } from "../fleet/enrolment-errors.js";
import { createSoftHsmToken, SOFTHSM_MODULE, type SoftHsm } from "../testkit/softhsm.js";
import { Pkcs11Token } from "./pkcs11-signer.js";
import { type WipeConfig, wipeDevice } from "./wipe.js";

describe("agent wipe (SoftHSM2 token, development key files)", () => {
  let hsm: SoftHsm;
  let dir: string;
  const open = () =>
    Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, token: { label: hsm.label }, pin: { file: hsm.pinFile } });

  beforeAll(() => {
    hsm = createSoftHsmToken("wipe-test");
    dir = mkdtempSync(join(tmpdir(), "so-wipe-"));
  });
  afterAll(() => {
    hsm?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const tokenConfig = (label: string, tlsLabel: string, stateDir: string): WipeConfig => ({
    deviceName: "ab".repeat(32),
    curve: "secp256k1",
    certFile: join(dir, "device.pem"),
    caFile: join(dir, "ca.pem"),
    token: {
      modulePath: SOFTHSM_MODULE,
      tokenLabel: hsm.label,
      pinFile: hsm.pinFile,
      readingLabel: label,
      tlsLabel,
    },
    stateDir,
  });

  it("refuses while the outbox holds readings, touching nothing; then destroys the key objects in the token", async () => {
    const t = open();
    const { tlsLabel } = generateDeviceKeys(t, "secp256k1", "boiler");
    t.close();
    const stateDir = join(dir, "state");
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, "outbox.db"), "not empty");
    writeFileSync(join(dir, "device.pem"), "cert");
    const configFile = join(dir, "device.json");
    writeFileSync(configFile, "{}");
    const config = tokenConfig("boiler", tlsLabel, stateDir);
    // The outbox cannot be counted here (no outbox module): not empty means readings wait.
    await expect(wipeDevice(config, { configFile })).rejects.toMatchObject({
      name: "WipeError",
      code: "unacknowledged",
    });
    await expect(wipeDevice(config, { configFile, pendingReadings: () => 3 })).rejects.toThrow(
      /3 readings are not acknowledged yet/,
    );
    let check = open();
    expect(check.hasKey("boiler") && check.hasKey(tlsLabel)).toBe(true);
    check.close();
    expect(existsSync(join(stateDir, "outbox.db"))).toBe(true);
    // Every reading acknowledged: keys destroyed (private and public objects), state removed.
    const r = await wipeDevice(config, { configFile, pendingReadings: () => 0 });
    expect(r.keyObjects).toBe(4);
    check = open();
    expect(check.hasKey("boiler")).toBe(false);
    expect(check.hasKey(tlsLabel)).toBe(false);
    expect(() => check.publicKey("boiler")).toThrow();
    check.close();
    expect(existsSync(stateDir)).toBe(false);
    expect(existsSync(configFile)).toBe(false);
  });

  it("is a typed error for a config without keys", async () => {
    const configFile = join(dir, "none.json");
    await expect(
      wipeDevice(
        { deviceName: "cd".repeat(32), curve: "p256", certFile: join(dir, "x.pem"), caFile: "" },
        { configFile },
      ),
    ).rejects.toBeInstanceOf(WipeError);
  });
});
