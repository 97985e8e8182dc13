import { describe, expect, it } from "vitest";
import { Histogram, Metrics } from "./metrics.js";

/** The value of one sample line of a Prometheus text rendering. */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("bridge metrics (prom-client)", () => {
  it("renders the fields the bridge counts with, as they are at each scrape", async () => {
    const m = new Metrics();
    m.accepted += 2;
    m.gasUsed += 123_456n;
    m.feedPushes += 1;
    let text = await m.render(5);
    expect(sample(text, "sensor_oracle_readings_accepted_total")).toBe(2);
    expect(sample(text, "sensor_oracle_commit_gas_used_total")).toBe(123456);
    expect(sample(text, "sensor_oracle_feed_pushes_total")).toBe(1);
    expect(sample(text, "sensor_oracle_queue_depth")).toBe(5);
    m.accepted += 3;
    text = await m.render(0);
    expect(sample(text, "sensor_oracle_readings_accepted_total")).toBe(5);
    expect(sample(text, "sensor_oracle_queue_depth")).toBe(0);
  });

  it("restarts the age of the last commit when a batch is counted", async () => {
    const m = new Metrics();
    await new Promise((r) => setTimeout(r, 1100));
    expect(m.secondsSinceLastCommit()).toBeGreaterThanOrEqual(1);
    m.batchesCommitted += 1;
    expect(m.batchesCommitted).toBe(1);
    expect(m.secondsSinceLastCommit()).toBeLessThan(0.5);
    expect(sample(await m.render(0), "sensor_oracle_seconds_since_last_commit")).toBeLessThan(0.5);
  });

  it("renders a histogram field added to Metrics later without other changes", async () => {
    class MoreMetrics extends Metrics {
      readonly archiveLag = new Histogram("sensor_oracle_test_archive_lag_seconds", "test", [1, 10]);
    }
    const m = new MoreMetrics();
    m.archiveLag.observe(5);
    const text = await m.render(0);
    expect(sample(text, 'sensor_oracle_test_archive_lag_seconds_bucket{le="10"}')).toBe(1);
    // Rendering twice registers it once.
    expect((await m.render(0)).match(/# TYPE sensor_oracle_test_archive_lag_seconds /g)).toHaveLength(1);
  });

  it("exports certificate expiry by label, skipping certificates not loaded", async () => {
    const m = new Metrics();
    const notAfter = new Date("2030-01-02T03:04:05Z");
    m.watchCertificates(() => [
      { certificate: "bridge", notAfter },
      { certificate: "device_earliest", notAfter: null },
    ]);
    const text = await m.render(0);
    expect(sample(text, 'sensor_oracle_certificate_expiry_timestamp_seconds{certificate="bridge"}')).toBe(
      notAfter.getTime() / 1000,
    );
    expect(text).not.toContain('certificate="device_earliest"');
  });
});
