import { describe, expect, it } from "vitest";
import { DeviceRateLimiter } from "./rate-limit.js";

describe("DeviceRateLimiter", () => {
  it("allows a burst, then the sustained rate, per device", () => {
    let t = 0;
    const rl = new DeviceRateLimiter(10, 5, () => t);
    const burst = Array.from({ length: 8 }, () => rl.take("a"));
    expect(burst).toEqual([true, true, true, true, true, false, false, false]);
    expect(rl.take("b")).toBe(true); // another device has its own bucket
    t += 100; // 0.1 s at 10/s refills one token
    expect(rl.take("a")).toBe(true);
    expect(rl.take("a")).toBe(false);
  });

  it("tells a limited device to wait until its bucket is full again", () => {
    let t = 0;
    const rl = new DeviceRateLimiter(10, 5, () => t);
    expect(rl.retryAfterMs("a")).toBe(0);
    for (let i = 0; i < 6; i++) rl.take("a");
    expect(rl.retryAfterMs("a")).toBe(500); // 5 tokens at 10/s
    t += 200;
    expect(rl.retryAfterMs("a")).toBe(300);
  });

  it("rejects a nonsensical configuration", () => {
    expect(() => new DeviceRateLimiter(0, 5)).toThrow(RangeError);
  });
});
