import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const UNIT = "deploy/systemd/sensor-oracle-agent.service";

/** The unit's settings: section → key → values (a key may repeat, as DeviceAllow does). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header?.[1]) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv?.[1] || !current) throw new Error(`not a unit line: ${line}`);
    current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2] ?? ""]);
  }
  return sections;
}

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe("the gateway's systemd unit", () => {
  const text = readFileSync(UNIT, "utf8");

  it("runs the agent as its own user, restarts it, keeps its outbox in a state folder and stops it with SIGTERM", () => {
    const s = parseUnit(text).get("Service");
    const one = (k: string) => s?.get(k)?.at(-1);
    expect(one("User")).toBe("sensor-oracle");
    expect(one("Restart")).toBe("on-failure");
    expect(one("StateDirectory")).toBe("sensor-oracle");
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(Number(one("TimeoutStopSec"))).toBeGreaterThanOrEqual(10);
    expect(one("ExecStart")).toMatch(/ agent run --config \/etc\/sensor-oracle\/agent\.json$/);
    // Hardened: a read-only system with only the token's store writable, no privileges.
    expect(one("ProtectSystem")).toBe("strict");
    expect(one("ReadWritePaths")).toContain("/var/lib/softhsm/tokens");
    expect(one("NoNewPrivileges")).toBe("yes");
    expect(one("CapabilityBoundingSet")).toBe("");
    expect(one("DevicePolicy")).toBe("closed");
    expect(s?.get("DeviceAllow")).toContain("/dev/tpmrm0 rw");
    expect(parseUnit(text).get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);
  });

  it.runIf(hasSystemdAnalyze)("passes systemd-analyze verify without a warning", () => {
    // Verified as written, except that node is wherever this machine has it (verify checks that
    // ExecStart's program exists).
    const dir = mkdtempSync(join(tmpdir(), "so-unit-"));
    try {
      const file = join(dir, "sensor-oracle-agent.service");
      writeFileSync(file, text.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `));
      const r = spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
      const about = `${r.stdout}${r.stderr}`
        .split("\n")
        .filter((l) => l.includes("sensor-oracle-agent"))
        .join("\n");
      expect(about).toBe("");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("certificate renewal on the gateway: done by the running agent itself", () => {
  const agentConfig = JSON.parse(
    /```json\n(\{\n {2}"deviceName"[\s\S]*?)\n```/.exec(readFileSync("docs/GATEWAY.md", "utf8"))?.[1] ?? "{}",
  ) as { certFile?: string };

  it("lets the agent write the folder of its certificate and config, and ships no separate renewal units", () => {
    // A separate `agent renew` would rotate the key while the running agent still signs with the
    // old one (its readings then refused); the agent renews and rotates itself (self-renewal.ts).
    expect(agentConfig.certFile).toBe("/etc/sensor-oracle/device.pem");
    const s = parseUnit(readFileSync(UNIT, "utf8")).get("Service");
    expect(s?.get("ReadWritePaths")?.at(-1)?.split(" ")).toContain("/etc/sensor-oracle");
    expect(readdirSync("deploy/systemd").filter((f) => /renew|reload|\.path$|\.timer$/.test(f))).toEqual([]);
  });
});
