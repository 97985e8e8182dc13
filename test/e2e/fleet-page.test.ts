import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bridge } from "../../bridge/bridge.js";
import { FleetCertificates } from "../../bridge/certificates.js";
import type { RedisStore } from "../../bridge/store/redis-store.js";
import type { DeviceAgent } from "../../device-agent/agent.js";
import { createFleetCa, type FleetCa, type IssuedDevice } from "../../pki/fleet-ca.js";
import { feedIdOf } from "../../protocol/index.js";
import { siteOn, startDeviceAgent } from "../../testkit/agents.js";
import { startTestBridge, startTestInfra } from "../../testkit/infra.js";
import { freePort } from "../../testkit/ports.js";
import type { Service } from "../../testkit/process.js";
import { enrollDevice, type Stack } from "../../testkit/stack.js";

/** Debian's chromium (apt-get install chromium; .ci/run installs it). */
const CHROMIUM = "/usr/bin/chromium";
/** Where the screenshot goes (gitignored). */
const RESULTS = join(import.meta.dirname, "..", "..", "test-results");

type ApiReading = { id: string; status: string; reading: { value: string; sequence: string; feedId: Hex } };
type ApiDevice = {
  lastReading: { sequence: string; timestamp: string } | null;
  registry: { status: string } | null;
};
type ApiBatch = { root: Hex; txHash: Hex; ids: string[] };

describe("the fleet page in a real headless Chromium, against a running bridge (Mosquitto mTLS, Redis, Hardhat)", () => {
  let ca: FleetCa;
  let redis: Service;
  let broker: Service;
  let stack: Stack;
  let bridge: Bridge;
  let store: RedisStore;
  let browser: Browser;
  let page: Page;
  let base: string;
  const agents: DeviceAgent[] = [];
  const devices: Record<"p256" | "k1" | "unregistered", IssuedDevice> = {} as never;
  let silent: IssuedDevice;
  const humidity = feedIdOf("cold-room-7/humidity");
  /** What the page's console and the browser reported: script errors, CSP violations. */
  const problems: string[] = [];

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`);
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    ca = await createFleetCa();
    const infra = await startTestInfra(ca);
    ({ redis, broker, stack } = infra);
    devices.p256 = await enrollDevice(stack, ca, "p256");
    devices.k1 = await enrollDevice(stack, ca, "secp256k1");
    devices.unregistered = await enrollDevice(stack, ca, "p256", { register: false });
    const certificates = new FleetCertificates(ca.certPem);
    for (const d of Object.values(devices)) certificates.add(d.certPem);
    // Enrolled and registered, never heard from: listed all the same.
    silent = await enrollDevice(stack, ca, "p256");
    certificates.add(silent.certPem);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ bridge, store } = await startTestBridge(ca, infra, {
      prefix: "fleet-page",
      certificates,
      http: { port },
    }));
    for (const d of Object.values(devices)) agents.push(await startDeviceAgent(d, siteOn(ca, broker, stack)));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    for (const a of agents) await a.stop().catch(() => {});
    await bridge?.stop();
    await store?.close();
    await Promise.all([broker?.stop(), redis?.stop(), stack?.close()]);
  });

  it("shows devices, feeds and batches as the API serves them, refreshes without a reload, under its CSP", async () => {
    const [p256, k1, unregistered] = agents as [DeviceAgent, DeviceAgent, DeviceAgent];
    // Readings on two feeds, a batch committed, then one more reading that waits in the queue.
    const temperatures = [512n, 530n, 498n, 541n, 560n, 523n];
    for (const v of temperatures)
      expect((await p256.waitForAck(await p256.publish(stack.feedId, v))).status).toBe("queued");
    for (const v of [61n, 64n, 59n, 66n])
      expect((await k1.waitForAck(await k1.publish(humidity, v))).status).toBe("queued");
    const refused = await unregistered.waitForAck(await unregistered.publish(stack.feedId, 999n));
    expect(refused).toMatchObject({ status: "rejected", reason: "unknown_device" });
    await bridge.flush();
    expect((await k1.waitForAck(await k1.publish(humidity, 70n))).status).toBe("queued");

    const response = await page.goto(`${base}/fleet`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("default-src 'self'");
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await page
      .locator(`tr[data-device="${devices.k1.name}"] [data-field="value"]`)
      .filter({ hasText: "70" })
      .waitFor();

    // Devices: each row's last value and sequence are those of the API's last reading.
    for (const [key, d] of Object.entries(devices)) {
      const row = page.locator(`tr[data-device="${d.name}"]`);
      const shown = {
        status: await row.locator('[data-field="status"]').textContent(),
        value: await row.locator('[data-field="value"]').textContent(),
        sequence: await row.locator('[data-field="sequence"]').textContent(),
        age: await row.locator('[data-field="age"]').textContent(),
        rejections: await row.locator('[data-field="rejections"]').textContent(),
      };
      if (key === "unregistered") {
        const device = await api<ApiDevice>(`/devices/${d.name}`);
        expect(device.registry).toBeNull();
        expect(device.lastReading).toBeNull();
        expect(shown).toMatchObject({ status: "unregistered", value: "—", sequence: "—" });
        expect(shown.rejections).toBe("1 (unknown_device 1)");
        continue;
      }
      const device = await api<ApiDevice>(`/devices/${d.name}`);
      const last = await api<ApiReading>(`/readings/${d.name}:${device.lastReading?.sequence}`);
      expect(shown.status).toBe(device.registry?.status);
      expect(shown.status).toBe("active");
      expect(shown.sequence).toBe(device.lastReading?.sequence);
      expect(shown.value).toBe(last.reading.value);
      expect(shown.age).toMatch(/^\d+ s ago$/);
      expect(shown.rejections).toBe("0");
    }
    const quiet = page.locator(`tr[data-device="${silent.name}"]`);
    expect(await quiet.locator('[data-field="status"]').textContent()).toBe("active");
    expect(await quiet.locator('[data-field="value"]').textContent()).toBe("—");
    expect(await quiet.locator('[data-field="rejections"]').textContent()).toBe("0");
    expect(await page.locator("tr[data-device]").count()).toBe(4);

    // Feeds: the latest committed value is /feeds/:feedId/latest's; the chart has a point per reading.
    for (const [feedId, count, lastAccepted] of [
      [stack.feedId, temperatures.length, "523"],
      [humidity, 5, "70"],
    ] as const) {
      const card = page.locator(`[data-feed="${feedId}"]`);
      const latest = await api<ApiReading>(`/feeds/${feedId}/latest`);
      expect(latest.status).toBe("committed");
      expect(await card.locator('[data-field="committed"]').textContent()).toBe(latest.reading.value);
      expect(await card.locator('[data-field="accepted"]').textContent()).toBe(lastAccepted);
      const points = await card.locator("svg polyline").getAttribute("points");
      expect(points?.trim().split(/\s+/)).toHaveLength(count);
    }
    expect((await api<ApiReading>(`/feeds/${humidity}/latest`)).reading.value).toBe("66"); // 70 waits

    // Batches: the root and transaction shown are /batches/:root's.
    const rows = page.locator("tr[data-batch]");
    expect(await rows.count()).toBe(1);
    const root = (await rows.first().getAttribute("data-batch")) as Hex;
    const batch = await api<ApiBatch>(`/batches/${root}`);
    expect(batch.ids).toHaveLength(temperatures.length + 4);
    expect(await rows.first().locator('[data-field="tx"] .hex').getAttribute("title")).toBe(batch.txHash);

    // Live: a new reading and a new batch appear without a reload.
    expect((await p256.waitForAck(await p256.publish(stack.feedId, 4242n))).status).toBe("queued");
    await bridge.flush();
    const row = page.locator(`tr[data-device="${devices.p256.name}"] [data-field="value"]`);
    await row.filter({ hasText: "4242" }).waitFor({ timeout: 20_000 });
    await page.locator("tr[data-batch]").nth(1).waitFor({ timeout: 20_000 });
    await page
      .locator(`[data-feed="${stack.feedId}"] [data-field="committed"]`)
      .filter({ hasText: "4242" })
      .waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    expect((await page.locator("#status").getAttribute("class")) ?? "").not.toContain("error");

    mkdirSync(RESULTS, { recursive: true });
    const shot = join(RESULTS, "fleet-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot) && statSync(shot).size).toBeGreaterThan(10_000);
    // No script error and no CSP violation (Chromium reports those on the console).
    expect(problems).toEqual([]);
  });
});
