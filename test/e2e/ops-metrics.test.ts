import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import { createFleetCa } from "../../pki/fleet-ca.js";
import { startTestBridge, startTestInfra, type TestInfra } from "../../testkit/infra.js";
import { parseYamlSubset } from "../../testkit/yaml-subset.js";

type Rule = {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
type Dashboard = {
  uid: string;
  title: string;
  panels: {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { uid: string };
    targets?: { refId: string; expr: string }[];
  }[];
};

const alerts = parseYamlSubset(readFileSync("ops/prometheus/alerts.yml", "utf8")) as {
  groups: { name: string; rules: Rule[] }[];
};
const dashboard = JSON.parse(readFileSync("ops/grafana/sensor-oracle.json", "utf8")) as Dashboard;

/** The metric names a PromQL expression reads (ours, the process's and Node's). */
const metricNames = (expr: string) => [
  ...new Set([...expr.matchAll(/\b(?:sensor_oracle|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0])),
];

/** Brackets, parentheses, braces and quotes that close in order. */
function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let quote: string | null = null;
  for (const c of expr) {
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if ("([{".includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0 && quote === null;
}

const rules = alerts.groups.flatMap((g) => g.rules);
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

describe("ops/: Prometheus alert rules and the Grafana dashboard", () => {
  it("alert rules have the structure promtool checks", () => {
    expect(alerts.groups.length).toBeGreaterThan(0);
    for (const g of alerts.groups) {
      expect(typeof g.name).toBe("string");
      expect(Array.isArray(g.rules) && g.rules.length).toBeTruthy();
    }
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect(Object.keys(r).every((k) => ["alert", "expr", "for", "labels", "annotations"].includes(k))).toBe(
        true,
      );
      expect(r.alert, JSON.stringify(r)).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(typeof r.expr && r.expr?.trim(), r.alert).toBeTruthy();
      expect(balanced(r.expr as string), `${r.alert}: ${r.expr}`).toBe(true);
      if (r.for !== undefined) expect(r.for, r.alert).toMatch(/^\d+[smhdwy]$/);
      expect(["warning", "critical"]).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      for (const text of Object.values(r.annotations ?? {}))
        expect(text.split("{{").length, `${r.alert}: ${text}`).toBe(text.split("}}").length);
    }
  });

  it("alerts on a growing queue, no commit, low balance, spiking rejections and certificate expiry", () => {
    const reading = (name: string) => rules.filter((r) => metricNames(r.expr ?? "").includes(name));
    expect(reading("sensor_oracle_queue_depth").some((r) => r.expr?.includes("deriv("))).toBe(true);
    expect(reading("sensor_oracle_seconds_since_last_commit").length).toBeGreaterThan(0);
    expect(reading("sensor_oracle_submitter_balance_ether").length).toBeGreaterThan(0);
    expect(reading("sensor_oracle_readings_rejected_total").length).toBeGreaterThan(0);
    expect(reading("sensor_oracle_certificate_expiry_timestamp_seconds").length).toBeGreaterThan(0);
  });

  it("the dashboard is a Grafana dashboard: unique panel ids, a 24-column grid, queries on the datasource variable", () => {
    expect(dashboard.uid).toBe("sensor-oracle");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      expect(p.datasource?.uid).toMatch(/^\$\{datasource\}$/); // the dashboard's datasource variable
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(balanced(t.expr), `${p.title}: ${t.expr}`).toBe(true);
    }
  });

  describe("against a running bridge", () => {
    let infra: TestInfra;
    let bridge: Bridge;
    let store: RedisStore;
    let exported: Set<string>;

    beforeAll(async () => {
      const ca = await createFleetCa();
      infra = await startTestInfra(ca);
      ({ bridge, store } = await startTestBridge(ca, infra, {
        prefix: "ops",
        certificates: new FleetCertificates(ca.certPem),
      }));
      const body = (await bridge.app.inject({ url: "/metrics" })).body;
      exported = new Set<string>();
      for (const line of body.split("\n")) {
        const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
        if (sample && !line.startsWith("#")) exported.add(sample[1] as string);
        // A histogram's series exist once something is observed (GC durations by kind): its family
        // is exported from the start.
        const family = /^# TYPE (\S+) histogram$/.exec(line);
        if (family) for (const s of ["_bucket", "_sum", "_count"]) exported.add(`${family[1]}${s}`);
      }
    }, 180_000);

    afterAll(async () => {
      await bridge?.stop();
      await store?.close();
      await Promise.all([infra?.broker.stop(), infra?.redis.stop(), infra?.stack.close()]);
    });

    it("exports the submitter's balance and when the bridge's and the CA's certificates expire", async () => {
      const body = (await bridge.app.inject({ url: "/metrics" })).body;
      expect(Number(/^sensor_oracle_submitter_balance_ether (\S+)$/m.exec(body)?.[1])).toBeGreaterThan(0);
      const expiry = (label: string) =>
        Number(
          new RegExp(
            `^sensor_oracle_certificate_expiry_timestamp_seconds\\{certificate="${label}"\\} (\\S+)$`,
            "m",
          ).exec(body)?.[1],
        );
      const bridgeCert = new X509Certificate(infra.bridgeCert.certPem);
      expect(expiry("bridge")).toBe(new Date(bridgeCert.validTo).getTime() / 1000);
      expect(expiry("fleet_ca")).toBeGreaterThan(Date.now() / 1000);
    });

    it("exports every metric the alert rules and the dashboard read", () => {
      const used = new Set([...rules.map((r) => r.expr ?? ""), ...dashboardExprs].flatMap(metricNames));
      expect(used.size).toBeGreaterThan(15);
      const missing = [...used].filter((name) => !exported.has(name));
      expect(missing).toEqual([]);
    });
  });
});
