import { MalformedPayloadError } from "./errors.js";
import { UINT64_MAX } from "./reading.js";

/** A member value that is a string without escapes (`start`/`end` exclude the quotes). */
export const STRING_VALUE = 0;
/** A member value that is a canonical unsigned integer: `0` or `[1-9][0-9]*`, at most 16 digits. */
export const NUMBER_VALUE = 1;
/** A member value that is `true`, `false` or `null`. */
export const LITERAL_VALUE = 2;
export type ValueKind = typeof STRING_VALUE | typeof NUMBER_VALUE | typeof LITERAL_VALUE;

/** Most digits of a number: 2^53 has 16, so no integer a protocol number may hold needs more. */
export const MAX_NUMBER_DIGITS = 16;

const SLOT = 5;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * A bounded scanner of one flat JSON object in the protocol's canonical subset (docs/PROTOCOL.md,
 * "Canonical form"): ASCII only; whitespace only space, tab, LF and CR between tokens; member names
 * and string values without escapes or control bytes; numbers without sign, fraction, exponent or
 * leading zeros and at most 16 digits; `true`/`false`/`null`; no nested object or array, so there is
 * no depth. It reads each byte of `bytes[0..end)` at most once and never an index at or past `end`,
 * allocates nothing per call, and refuses with a MalformedPayloadError whose details name the byte
 * offset and the rule (never more than one byte of input, as a hex code).
 *
 * Members are recorded in order as they complete; after a refusal `count` still holds the members
 * scanned before it (what `peekSequence` reads). Names are not interpreted here: duplicates and
 * unknown names are the caller's to judge. One instance serves one synchronous call at a time.
 */
export class FlatObjectScan {
  /** Per member: name start, name end, value kind, value start, value end (byte offsets). */
  readonly slots: Int32Array;
  count = 0;

  constructor(readonly maxMembers: number) {
    this.slots = new Int32Array(maxMembers * SLOT);
  }

  nameStart(i: number): number {
    return this.slots[i * SLOT] as number;
  }
  nameEnd(i: number): number {
    return this.slots[i * SLOT + 1] as number;
  }
  kind(i: number): ValueKind {
    return this.slots[i * SLOT + 2] as ValueKind;
  }
  valueStart(i: number): number {
    return this.slots[i * SLOT + 3] as number;
  }
  valueEnd(i: number): number {
    return this.slots[i * SLOT + 4] as number;
  }

  /** Scan `bytes[0..end)` as exactly one flat object (surrounding whitespace allowed). */
  scan(b: ArrayLike<number>, end: number): void {
    this.count = 0;
    let p = skipWhitespace(b, 0, end);
    if (p >= end || b[p] !== 0x7b) fail(b, p, end, "expected '{'");
    p = skipWhitespace(b, p + 1, end);
    if (p < end && b[p] === 0x7d) {
      p++;
    } else {
      for (;;) {
        if (this.count === this.maxMembers) fail(b, p, end, `more than ${this.maxMembers} members`);
        if (p >= end || b[p] !== QUOTE) fail(b, p, end, "expected a member name");
        const nameStart = p + 1;
        const nameEnd = scanString(b, nameStart, end);
        p = skipWhitespace(b, nameEnd + 1, end);
        if (p >= end || b[p] !== 0x3a) fail(b, p, end, "expected ':'");
        p = skipWhitespace(b, p + 1, end);
        const c = p < end ? (b[p] as number) : -1;
        let kind: ValueKind;
        let valueStart = p;
        let valueEnd: number;
        if (c === QUOTE) {
          kind = STRING_VALUE;
          valueStart = p + 1;
          valueEnd = scanString(b, valueStart, end);
          p = valueEnd + 1;
        } else if (c >= 0x30 && c <= 0x39) {
          kind = NUMBER_VALUE;
          valueEnd = p = scanNumber(b, p, end);
        } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
          kind = LITERAL_VALUE;
          valueEnd = p = scanLiteral(b, p, end);
        } else if (c === 0x2d || c === 0x2b) {
          fail(b, p, end, "signed number");
        } else if (c === 0x7b || c === 0x5b) {
          fail(b, p, end, "nested object or array");
        } else {
          fail(b, p, end, "expected a value");
        }
        const s = this.count * SLOT;
        this.slots[s] = nameStart;
        this.slots[s + 1] = nameEnd;
        this.slots[s + 2] = kind;
        this.slots[s + 3] = valueStart;
        this.slots[s + 4] = valueEnd;
        this.count++;
        p = skipWhitespace(b, p, end);
        if (p < end && b[p] === 0x2c) {
          p = skipWhitespace(b, p + 1, end);
          continue;
        }
        if (p < end && b[p] === 0x7d) {
          p++;
          break;
        }
        fail(b, p, end, "expected ',' or '}'");
      }
    }
    p = skipWhitespace(b, p, end);
    if (p !== end) fail(b, p, end, "bytes after the object");
  }
}

/** Whether bytes[start..end) are exactly the ASCII text `text`. */
export function bytesEqual(b: ArrayLike<number>, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** bytes[start..end) as a string; callers pass only ranges the scanner proved to be ASCII. */
export function asciiOf(b: ArrayLike<number>, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i] as number);
  return s;
}

/** Whether bytes[start..end) are a canonical unsigned decimal: `0` or `[1-9][0-9]*`, at most maxDigits. */
export function isUnsignedDecimal(
  b: ArrayLike<number>,
  start: number,
  end: number,
  maxDigits: number,
): boolean {
  const n = end - start;
  if (n < 1 || n > maxDigits || (b[start] === 0x30 && n > 1)) return false;
  for (let i = start; i < end; i++) if (!((b[i] as number) >= 0x30 && (b[i] as number) <= 0x39)) return false;
  return true;
}

/** The canonical uint64 decimal in bytes[start..end), or null. */
export function uint64Of(b: ArrayLike<number>, start: number, end: number): bigint | null {
  if (!isUnsignedDecimal(b, start, end, 20)) return null;
  const n = BigInt(asciiOf(b, start, end));
  return n <= UINT64_MAX ? n : null;
}

function skipWhitespace(b: ArrayLike<number>, p: number, end: number): number {
  while (p < end) {
    const c = b[p];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    p++;
  }
  return p;
}

/** From the first byte after the opening quote; returns the offset of the closing quote. */
function scanString(b: ArrayLike<number>, p: number, end: number): number {
  while (p < end) {
    const c = b[p] as number;
    if (c === QUOTE) return p;
    if (c === BACKSLASH) fail(b, p, end, "escape sequence in a string");
    if (c < 0x20 || c > 0x7e) fail(b, p, end, "control or non-ASCII byte in a string");
    p++;
  }
  return fail(b, p, end, "unterminated string");
}

/** From the first digit; returns the offset after the last digit. */
function scanNumber(b: ArrayLike<number>, p: number, end: number): number {
  const start = p;
  if (b[p] === 0x30) {
    p++;
  } else {
    while (p < end && (b[p] as number) >= 0x30 && (b[p] as number) <= 0x39) p++;
  }
  const c = p < end ? b[p] : -1;
  if (c !== undefined && c >= 0x30 && c <= 0x39) fail(b, p, end, "number with a leading zero");
  if (c === 0x2e) fail(b, p, end, "number with a fraction");
  if (c === 0x65 || c === 0x45) fail(b, p, end, "number with an exponent");
  if (p - start > MAX_NUMBER_DIGITS) fail(b, start, end, `number of more than ${MAX_NUMBER_DIGITS} digits`);
  return p;
}

function scanLiteral(b: ArrayLike<number>, p: number, end: number): number {
  for (const word of ["true", "false", "null"]) {
    if (p + word.length <= end && bytesEqual(b, p, p + word.length, word)) return p + word.length;
  }
  return fail(b, p, end, "expected a value");
}

function fail(b: ArrayLike<number>, p: number, end: number, rule: string): never {
  const at = p < end ? ` (byte 0x${(b[p] as number).toString(16).padStart(2, "0")})` : " (end of input)";
  throw new MalformedPayloadError(`at byte ${p}: ${rule}${at}`);
}
