import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/**/*.test.ts",
      "protocol/**/*.test.ts",
      "bridge/**/*.test.ts",
      "device-agent/**/*.test.ts",
      "pki/**/*.test.ts",
      "fleet/**/*.test.ts",
      "chain/**/*.test.ts",
      "cli/**/*.test.ts",
    ],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Each end-to-end file starts its own Mosquitto, Redis and chain; run files one at a time on
    // these 2-core machines so timing-sensitive assertions are not starved.
    fileParallelism: false,
  },
});
