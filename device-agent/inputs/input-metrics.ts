import { Counter, type Registry } from "prom-client";
import type { InputStats } from "./reading-intake.js";

const P = "sensor_oracle_agent_input_";

/**
 * The inputs' counts as Prometheus counters in the agent's registry, read from `stats` when
 * scraped: readings each source handed over, and those it refused by reason (docs/GATEWAY.md).
 * Every source and reason is present from the start (at 0), so rates work from the first scrape.
 */
export function registerInputMetrics(registry: Registry, stats: () => InputStats): void {
  new Counter({
    name: `${P}readings_taken_total`,
    help: "Readings an input (stdin, command, http, api) handed to the agent and the agent took",
    labelNames: ["source"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, n] of Object.entries(stats().taken)) this.inc({ source }, n);
    },
  });
  new Counter({
    name: `${P}readings_refused_total`,
    help: "Readings an input refused or the agent refused from it, by source and reason",
    labelNames: ["source", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, reasons] of Object.entries(stats().rejected))
        for (const [reason, n] of Object.entries(reasons)) this.inc({ source, reason }, n);
    },
  });
}
