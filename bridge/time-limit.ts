/**
 * `p`, or after `ms` what `late` gives (or throws) instead: for calls to Redis or the chain that
 * must not hold a probe, a start-up or a shutdown for ever. The timer is cleared either way.
 */
export function withinTime<T>(p: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
