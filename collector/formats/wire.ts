import protobuf from 'protobufjs/minimal.js';
import { cachedString } from './stringCache.js';

/**
 * Helpers for hand-written protobuf decode loops on protobufjs' `Reader`: bounded sub-messages,
 * 64-bit integers as plain numbers (no `Long` allocated), and errors that say what is wrong,
 * where in the message tree and at which byte.
 */
export type Reader = protobuf.Reader;

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;

const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start group', 'end group', 'fixed32'];

/** A reader over `buf`; a `Buffer` gets protobufjs' `BufferReader`, whose strings decode natively. */
export function reader(buf: Buffer): Reader {
  return protobuf.Reader.create(buf);
}

/**
 * A malformed protobuf message. The message says what is wrong and at which byte; `path` (the
 * field path from the root, like `.timeseries[3].samples[0]`) is filled in while it unwinds.
 */
export class WireError extends Error {
  override readonly name = 'WireError';
  path = '';
}

/**
 * Rethrows `err` with `segment` prepended to its path. Errors of protobufjs' Reader (a read
 * past the end, a broken varint) become `WireError`s with the position; anything else is a
 * bug here and is rethrown untouched.
 */
export function rethrowIn(err: unknown, segment: string, r: Reader): never {
  const wire = toWireError(err, r);
  wire.path = segment + wire.path;
  throw wire;
}

/** `err` as a `WireError` (see `rethrowIn`). */
export function toWireError(err: unknown, r: Reader): WireError {
  if (err instanceof WireError) return err;
  if (err instanceof RangeError && err.message.startsWith('index out of range')) {
    return new WireError(`truncated: the message ends at byte ${r.len} in the middle of a field`);
  }
  if (err instanceof Error && /^(invalid|illegal|max depth)/.test(err.message)) {
    return new WireError(`${err.message.replace(/ at offset \d+$/, '')} at byte ${r.pos}`);
  }
  throw err;
}

/**
 * Enters the length-delimited sub-message at the reader's position: bounds the reader to it
 * and returns the enclosing limit, to be given back to `leave` once the sub-message is read.
 */
export function enter(r: Reader): number {
  const at = r.pos;
  const length = r.size();
  const end = r.pos + length;
  if (end > r.len) {
    throw new WireError(
      `length ${length} at byte ${at} runs past the end of the enclosing message (byte ${r.len})`,
    );
  }
  const outer = r.len;
  r.len = end;
  return outer;
}

/** Leaves a sub-message entered with `enter`. */
export function leave(r: Reader, outer: number): void {
  r.len = outer;
}

/** Throws unless `tag` carries `wireType`: a known field encoded as something else is corrupt. */
export function expectWireType(r: Reader, tag: number, wireType: number, field: string): void {
  if ((tag & 7) !== wireType) {
    const expected = `${wireType} (${WIRE_TYPE_NAMES[wireType]})`;
    throw new WireError(
      `${field} (field ${tag >>> 3}) has wire type ${tag & 7} instead of ${expected} at byte ${r.pos}`,
    );
  }
}

/**
 * A field that is none of the `known` tags of a message: one of its fields with another wire
 * type is corrupt, an unknown field is skipped.
 */
export function unknownField(r: Reader, tag: number, ...known: Array<[tag: number, field: string]>): void {
  checkTag(r, tag);
  for (const [knownTag, field] of known) {
    if (tag >>> 3 === knownTag >>> 3) expectWireType(r, tag, knownTag & 7, field);
  }
  skipField(r, tag);
}

/**
 * Throws for field number 0 and for wire types that cannot start a field here: 6 and 7 do not
 * exist, and 3 and 4 (groups) do not occur in proto3 messages.
 */
export function checkTag(r: Reader, tag: number): void {
  const wireType = tag & 7;
  if (tag >>> 3 === 0) throw new WireError(`invalid field number 0 at byte ${r.pos}`);
  if (wireType === 3 || wireType === 4 || wireType > 5) {
    throw new WireError(`invalid wire type ${wireType} at byte ${r.pos}`);
  }
}

/** Skips an unknown field (see `checkTag` for what is refused). */
export function skipField(r: Reader, tag: number): void {
  checkTag(r, tag);
  r.skipType(tag & 7, 0, tag >>> 3);
}

/** An int64 varint as a number (exact up to 2^53, rounded beyond), without allocating a `Long`. */
export function int64(r: Reader): number {
  const buf = r.buf;
  const limit = r.len;
  let pos = r.pos;
  let lo = 0;
  let b = 0;
  // Bytes 1-4 carry bits 0-27.
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= limit) throw truncated(r);
    b = buf[pos++] as number;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return lo;
    }
  }
  // Byte 5 carries bits 28-34: four into the low word, three into the high one.
  if (pos >= limit) throw truncated(r);
  b = buf[pos++] as number;
  lo = (lo | ((b & 0x7f) << 28)) >>> 0;
  let hi = (b & 0x7f) >>> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw new WireError(`invalid varint encoding at byte ${r.pos}`);
      if (pos >= limit) throw truncated(r);
      b = buf[pos++] as number;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  r.pos = pos;
  // Two's complement: the high word is signed, the low one unsigned.
  return (hi | 0) * 0x100000000 + lo;
}

/** A fixed64 (little-endian) as an unsigned number, exact up to 2^53. */
export function fixed64(r: Reader): number {
  const { lo, hi } = fixed64Words(r);
  return hi * 0x100000000 + lo;
}

/** An sfixed64 (little-endian, two's complement) as a number, exact up to ±2^53. */
export function sfixed64(r: Reader): number {
  const { lo, hi } = fixed64Words(r);
  return (hi | 0) * 0x100000000 + lo;
}

/**
 * A fixed64 count of nanoseconds as whole milliseconds, rounded down, exactly: the division by
 * 1e6 is done on the two 32-bit words, since a nanosecond epoch time is beyond 2^53.
 */
export function fixed64NanosToMillis(r: Reader): number {
  const { lo, hi } = fixed64Words(r);
  // hi * 2^32 = hi * 4294 * 1e6 + hi * 967296; the remainder term stays below 2^53.
  const rest = hi * 967296 + lo;
  let ms = Math.floor(rest / 1e6);
  if (ms * 1e6 > rest) ms -= 1;
  return hi * 4294 + ms;
}

function fixed64Words(r: Reader): { lo: number; hi: number } {
  const pos = r.pos;
  if (pos + 8 > r.len) throw truncated(r);
  const buf = r.buf;
  r.pos = pos + 8;
  return {
    lo:
      ((buf[pos] as number) |
        ((buf[pos + 1] as number) << 8) |
        ((buf[pos + 2] as number) << 16) |
        ((buf[pos + 3] as number) << 24)) >>>
      0,
    hi:
      ((buf[pos + 4] as number) |
        ((buf[pos + 5] as number) << 8) |
        ((buf[pos + 6] as number) << 16) |
        ((buf[pos + 7] as number) << 24)) >>>
      0,
  };
}

function truncated(r: Reader): WireError {
  return new WireError(`truncated: the message ends at byte ${r.len} in the middle of a field`);
}

/** A length-delimited UTF-8 string, through the string cache (see stringCache.ts). */
export function string(r: Reader): string {
  const buf = r.buf;
  let pos = r.pos;
  let length = buf[pos] as number;
  if (length < 0x80 && pos < r.len) pos += 1;
  else {
    length = r.size();
    pos = r.pos;
  }
  const end = pos + length;
  if (end > r.len) throw truncated(r);
  r.pos = end;
  return cachedString(buf, pos, length);
}
