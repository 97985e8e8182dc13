import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../cli/command-list.js";
import { loadFleetCa } from "../../pki/fleet-ca.js";

type Run = { status: number | null; stdout: string; stderr: string };

/** Run the CLI as its own process (the test's HTTP server answers it from this one). */
function cli(...argv: string[]): Promise<Run> {
  return run(process.execPath, ["--import", "tsx", "cli/main.ts", ...argv]);
}

function run(cmd: string, argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: 60_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ status, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

describe("sensor-oracle CLI: help, version, completion, JSON output", () => {
  it("prints the version, and every command's help with its options", async () => {
    let r = await cli("--version");
    expect(r).toMatchObject({ status: 0, stdout: version });
    r = await cli("--help");
    expect(r.status).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.name);
    const helps = await Promise.all(COMMANDS.map((c) => cli(...c.name.split(" "), "--help")));
    for (const [i, c] of COMMANDS.entries()) {
      const h = helps[i] as Run;
      expect(h.status, `${c.name}: ${h.stderr}`).toBe(0);
      expect(h.stdout.startsWith(`usage: sensor-oracle ${c.name}`)).toBe(true);
      for (const o of c.options) expect(h.stdout, c.name).toContain(`--${o.name}`);
    }
    // `help <command>` is `<command> --help`; a group's --help lists its commands.
    expect((await cli("help", "device", "enroll")).stdout).toBe(
      helps[COMMANDS.findIndex((c) => c.name === "device enroll")]?.stdout,
    );
    r = await cli("device", "--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("device enroll");
    expect(r.stdout).not.toContain("ca init");
  }, 120_000);

  it("answers a usage error in one line with exit code 2", async () => {
    let r = await cli("device", "enroll", "--dir", "x", "--nope");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^sensor-oracle device enroll: Unknown option '--nope'/);
    r = await cli("device", "frobnicate");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'sensor-oracle: unknown command "device frobnicate" (sensor-oracle --help lists them)',
    );
    r = await cli("bridge", "run");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("sensor-oracle bridge run: --config is required (or SO_CONFIG)");
  }, 60_000);

  it("completes commands, options and option values in bash", async () => {
    const script = join(mkdtempSync(join(tmpdir(), "so-completion-")), "sensor-oracle.bash");
    const r = await cli("completion", "bash");
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(script, r.stdout);
    const complete = async (...words: string[]) => {
      const line = words.map((w) => `'${w}'`).join(" ");
      const out = await run("bash", [
        "-c",
        `source '${script}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _sensor_oracle; echo "\${COMPREPLY[*]}"`,
      ]);
      expect(out.status, out.stderr).toBe(0);
      return out.stdout;
    };
    expect(await complete("sensor-oracle", "dev")).toBe("device");
    expect((await complete("sensor-oracle", "device", "")).split(" ").sort()).toEqual([
      "decommission",
      "enroll",
      "list",
      "revoke",
      "rotate",
      "status",
    ]);
    expect(await complete("sensor-oracle", "device", "enroll", "--cu")).toBe("--curve");
    expect(await complete("sensor-oracle", "device", "enroll", "--curve", "")).toBe("p256 secp256k1");
    expect(await complete("sensor-oracle", "device", "list", "--j")).toBe("--json");
    rmSync(join(script, ".."), { recursive: true, force: true });
  }, 60_000);

  describe("device list and status on a fleet of 40 devices", () => {
    const DEVICES = 40;
    let dir: string;
    let names: string[];
    let server: Server;
    let bridgeUrl: string;
    let inFlight = 0;
    let mostInFlight = 0;
    let asked = 0;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "so-cli-usage-"));
      process.env.SO_CA_PASSPHRASE = "cli usage test passphrase"; // ca init encrypts the root key with it
      const r = await cli("ca", "init", "--dir", dir, "--name", "usage fleet");
      expect(r.status, r.stderr).toBe(0);
      const ca = await loadFleetCa(join(dir, "ca"));
      names = [];
      for (let i = 0; i < DEVICES; i++) {
        const d = await ca.issueDevice({ curve: i % 2 ? "secp256k1" : "p256" });
        writeFileSync(join(dir, "devices", `${d.name}.pem`), d.certPem);
        names.push(d.name);
      }
      // A bridge's /devices/:name that takes 100 ms per answer: the CLI must ask several at once.
      server = createServer((req, res) => {
        asked++;
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          const name = req.url?.split("/").at(-1) ?? "";
          if (name === names[0]) {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ lastReading: { sequence: "7", timestamp: "1700000000" } }));
          } else {
            res.writeHead(404).end();
          }
        }, 100);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      bridgeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }, 120_000);

    afterAll(async () => {
      await new Promise((resolve) => server?.close(resolve));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("asks the bridge about many devices at once, with progress, and prints one JSON document", async () => {
      const r = await cli("device", "list", "--dir", dir, "--bridge-url", bridgeUrl, "--json");
      expect(r.status, r.stderr).toBe(0);
      expect(asked).toBe(DEVICES);
      expect(mostInFlight).toBeGreaterThan(1);
      expect(mostInFlight).toBeLessThanOrEqual(16);
      expect(r.stderr).toContain(`last readings asked of ${bridgeUrl}: ${DEVICES}/${DEVICES}`);
      const doc = JSON.parse(r.stdout) as {
        devices: {
          name: string;
          curve: string;
          certificate: { status: string };
          bridge: { lastReading: unknown };
        }[];
        total: number;
        validCertificates: number;
      };
      expect(doc.total).toBe(DEVICES);
      expect(doc.validCertificates).toBe(DEVICES);
      expect(doc.devices.map((d) => d.name).sort()).toEqual([...names].sort());
      const first = doc.devices.find((d) => d.name === names[0]);
      expect(first?.bridge.lastReading).toEqual({ sequence: "7", timestamp: "1700000000" });
      expect(doc.devices.filter((d) => d.bridge.lastReading === null)).toHaveLength(DEVICES - 1);
    }, 60_000);

    it("prints one line per device and a summary without --json", async () => {
      const r = await cli("device", "list", "--dir", dir);
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.split("\n");
      expect(lines).toHaveLength(DEVICES + 1);
      expect(lines.at(-1)).toBe(`${DEVICES} devices, ${DEVICES} with a valid certificate`);
    }, 60_000);

    it("gives one device's status as JSON, asking the bridge about that device only", async () => {
      const before = asked;
      const r = await cli(
        "device",
        "status",
        "--dir",
        dir,
        "--name",
        names[0] as string,
        "--bridge-url",
        bridgeUrl,
        "--json",
      );
      expect(r.status, r.stderr).toBe(0);
      expect(asked - before).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        name: names[0],
        curve: "p256",
        certificate: { status: "valid" },
        chain: null,
        bridge: { url: bridgeUrl, lastReading: { sequence: "7", timestamp: "1700000000" } },
      });
    }, 60_000);
  });
});
