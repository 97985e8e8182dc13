/**
 * What the inputs log through: the subset of pino's Logger they use (object first, then message),
 * so the daemon passes its pino logger and tests a collecting one.
 */
export type InputLog = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

/** A log that drops everything (for callers without one). */
export const silentInputLog: InputLog = { info() {}, warn() {}, error() {} };
