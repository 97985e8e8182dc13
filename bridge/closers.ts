/** A resource's shutdown step, named for the log. */
export type Closer = { name: string; close: () => void | Promise<void> };

/**
 * What a started bridge must close, in the order it was started; closed in reverse, so what
 * depends on a resource (the MQTT intake on the registry, the HTTP app on everything) stops first.
 */
export class Closers {
  private readonly closers: Closer[] = [];

  add(name: string, close: () => void | Promise<void>): void {
    this.closers.push({ name, close });
  }

  /** Run every closer, last added first, each awaited before the next; throws the first failure at the end. */
  async closeAll(): Promise<void> {
    let failure: unknown;
    for (const c of this.closers.splice(0).reverse()) {
      try {
        await c.close();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
