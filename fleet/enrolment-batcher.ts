import type { Hex } from "viem";
import {
  type PendingRegistration,
  type RegisteredBatch,
  registerBatch,
  registeredOnChain,
} from "./bulk-registration.js";
import type { RegistryWriter } from "./registry-admin.js";

/**
 * Registrations of devices the enrolment endpoint approved, gathered into `registerBatch`
 * transactions: a batch goes when it holds `maxBatch` devices or `windowMs` after its first
 * device came, one transaction in flight at a time. Each device's promise settles with the
 * batch that registered it. Devices the registry already holds are left out (a batch with one
 * of them would revert as a whole).
 */
export class RegistrationBatcher {
  private queue: {
    reg: PendingRegistration;
    done: (b: RegisteredBatch) => void;
    fail: (e: unknown) => void;
  }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Confirmed batches: transaction, gas, device count (the endpoint's figures). */
  readonly batches: { hash: Hex; devices: number; gasUsed: bigint }[] = [];

  constructor(
    private readonly w: RegistryWriter,
    private readonly opts: { maxBatch: number; windowMs: number; onBatch?: (b: RegisteredBatch) => void },
  ) {}

  add(reg: PendingRegistration): Promise<RegisteredBatch> {
    return new Promise((done, fail) => {
      this.queue.push({ reg, done, fail });
      if (this.queue.length >= this.opts.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
    });
  }

  /** Send what is queued now (the timer's and a full batch's call). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.queue.length);
    if (!batch.length) return this.chain;
    this.chain = this.chain.then(() => this.send(batch));
    return this.chain;
  }

  private async send(batch: RegistrationBatcher["queue"]): Promise<void> {
    try {
      const held = await registeredOnChain(
        this.w,
        batch.map((b) => b.reg.device.deviceId),
      );
      const fresh = batch.filter((b) => !held.has(b.reg.device.deviceId));
      if (!fresh.length) {
        const none = { hash: "0x" as Hex, blockNumber: 0n, gasUsed: 0n, deviceIds: [] };
        for (const b of batch) b.done(none);
        return;
      }
      // One registration per device (a device that asked twice within the window is in twice).
      const unique = [...new Map(fresh.map((b) => [b.reg.device.deviceId, b.reg])).values()];
      const r = await registerBatch(this.w, unique);
      this.batches.push({ hash: r.hash, devices: unique.length, gasUsed: r.gasUsed });
      this.opts.onBatch?.(r);
      for (const b of batch) b.done(r);
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /** Stop the timer and send what is left. */
  async close(): Promise<void> {
    await this.flush();
  }
}
