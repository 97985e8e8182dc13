import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Key rotations the operator asked for (`device rotate --name N --queue`) and the enrolment
 * endpoint has not done yet: the endpoint tells the device at its next contact, the device makes
 * a new key and sends its CSR, and the rotation leaves the queue once certified and rotated
 * on-chain. One JSON file in the fleet folder, rewritten whole (write then rename).
 */
export const ROTATION_QUEUE_FILE = "rotation-queue.json";

export type QueuedRotation = { queuedAt: string; operator?: string };

function path(dir: string): string {
  return join(dir, ROTATION_QUEUE_FILE);
}

export function readRotationQueue(dir: string): Record<string, QueuedRotation> {
  const f = path(dir);
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Record<string, QueuedRotation>) : {};
}

function write(dir: string, q: Record<string, QueuedRotation>): void {
  const tmp = `${path(dir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(q, null, 2)}\n`);
  renameSync(tmp, path(dir));
}

/** Queue a rotation for a device (again: the first request's time is kept). */
export function queueRotation(dir: string, name: string, operator?: string): QueuedRotation {
  const q = readRotationQueue(dir);
  q[name] ??= { queuedAt: new Date().toISOString(), ...(operator ? { operator } : {}) };
  write(dir, q);
  return q[name];
}

export function rotationQueued(dir: string, name: string): boolean {
  return name in readRotationQueue(dir);
}

export function dequeueRotation(dir: string, name: string): void {
  const q = readRotationQueue(dir);
  if (!(name in q)) return;
  delete q[name];
  write(dir, q);
}
