/**
 * What a call comes to, as a string a test compares: `picked(error)` when it throws an error of
 * class `type`, `other: <error>` when it throws anything else, `returned` when it returns.
 */
export function outcomeOf<E>(
  fn: () => unknown,
  // biome-ignore lint/suspicious/noExplicitAny: any error class, whatever its constructor takes
  type: abstract new (...args: any[]) => E,
  picked: (error: E) => string,
  returned: string,
): string {
  try {
    fn();
  } catch (e) {
    return e instanceof type ? picked(e) : `other: ${String(e)}`;
  }
  return returned;
}
