// The agent of `npm run bench:agent`'s backlog run, in its own process so that its RSS is the
// agent's alone (it loads the agent's modules only): it fills an outbox with `count` readings while
// offline, then connects and drains it, and prints what it measured as JSON lines on stdout.
// It measures the shipped form: the compiled modules in `root` (dist/, as the installed package
// runs them) under plain node with the systemd unit's V8 flags, not the sources under tsx.
// Usage (from bench/agent.ts, which strips this file's types into a .mjs): node <flags> agent-drain.mjs '<json parameters>'
import type { DeviceAgent as DeviceAgentType } from "../device-agent/agent.js";
import type { SoftwareSigner as SoftwareSignerType } from "../device-agent/signer.js";
import type { IssuedDevice } from "../pki/fleet-ca.js";

const FEED = "cold-room-7/temperature";

/** Drain child: fills an outbox with `count` readings while offline, then drains it; JSON lines on stdout. */
async function drainChild(p: {
  device: Omit<IssuedDevice, "readingSecretKey"> & { readingSecretKey: string };
  brokerUrl: string;
  caPem: string;
  domain: { chainId: number; registry: `0x${string}` };
  outboxPath: string;
  count: number;
  maxInFlight?: number;
  /** Where the agent's modules are: the compiled package (dist/). */
  root: string;
}): Promise<void> {
  const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const { DeviceAgent } = (await import(`${p.root}/device-agent/agent.js`)) as {
    DeviceAgent: typeof DeviceAgentType;
  };
  const { SoftwareSigner } = (await import(`${p.root}/device-agent/signer.js`)) as {
    SoftwareSigner: typeof SoftwareSignerType;
  };
  const d = { ...p.device, readingSecretKey: Buffer.from(p.device.readingSecretKey, "hex") };
  const agent = new DeviceAgent({
    deviceName: d.name,
    signer: new SoftwareSigner(d.curve, d.readingSecretKey, { warn: () => {} }),
    domain: p.domain,
    mqtt: { url: p.brokerUrl, ca: p.caPem, cert: d.certPem, key: d.keyPem },
    feeds: [FEED],
    ...(p.maxInFlight === undefined ? {} : { maxInFlight: p.maxInFlight }),
    outbox: { path: p.outboxPath, quotaBytes: 1024 * 1024 * 1024 },
  });
  await new Promise((r) => setTimeout(r, 200));
  global.gc?.();
  say({ rssEmpty: process.memoryUsage.rss(), heapEmpty: process.memoryUsage().heapUsed });
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  const t0 = performance.now();
  const now = BigInt(Math.floor(Date.now() / 1000));
  for (let i = 0; i < p.count; i += 64) {
    const n = Math.min(64, p.count - i);
    await Promise.all(
      Array.from({ length: n }, (_, j) =>
        agent.take({ feed: FEED, value: BigInt(400 + ((i + j) % 300)), takenAt: now }),
      ),
    );
    if (i % 10_000 === 0) say({ filled: i });
  }
  const fillMs = performance.now() - t0;
  global.gc?.();
  say({
    fillMs,
    depth: agent.buffered,
    rssAfterFill: process.memoryUsage.rss(),
    heapAfterFill: process.memoryUsage().heapUsed,
    fileBytes: agent.outbox.fileBytes(),
  });
  peak = process.memoryUsage.rss();
  const t1 = performance.now();
  await agent.start();
  while (agent.buffered > 0) {
    await new Promise((r) => setTimeout(r, 100));
    if (Math.round(performance.now() - t1) % 5_000 < 100) say({ left: agent.buffered });
  }
  const drainMs = performance.now() - t1;
  clearInterval(sampler);
  say({ drainMs, peakRss: peak });
  await agent.close();
  process.exit(0);
}

await drainChild(JSON.parse(process.argv[2] as string));
