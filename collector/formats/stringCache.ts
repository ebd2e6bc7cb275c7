/**
 * A direct-mapped cache of short strings, keyed by their UTF-8 bytes, for protobuf decoders.
 * Label names and values repeat from series to series and from request to request, and
 * decoding a string (a call into C++ and an allocation) costs several times more than hashing
 * and comparing its bytes here. The same string object coming back also lets V8 internalize
 * an object key once rather than at every insertion. A slot holds the last string that hashed
 * to it; a miss decodes and replaces it.
 */

/**
 * Node's undocumented `Buffer#utf8Slice`: `toString('utf8', start, end)` without the argument
 * checks, a third cheaper on short strings. protobufjs' BufferReader decodes strings with it too.
 */
type NodeBuffer = Buffer & { utf8Slice(start: number, end: number): string };

/** Strings up to this many bytes are looked up in the cache; longer ones are decoded each time. */
const CACHED_STRING_BYTES = 64;
/** Slots of the direct-mapped string cache (a power of two). */
const CACHE_SLOTS = 8192;
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHED_STRING_BYTES);
const cacheView = new DataView(cacheBytes.buffer);
/** Length + 1 of the string in each slot; 0 for an empty slot. */
const cacheLengths = new Uint8Array(CACHE_SLOTS);
const cacheStrings: string[] = new Array<string>(CACHE_SLOTS).fill('');
/**
 * A DataView on the buffer being read, to hash and compare four bytes at a time. It keeps the
 * last buffer read alive until the next one.
 */
let view: DataView = new DataView(new ArrayBuffer(0));
let viewOf: Uint8Array | undefined;

/**
 * The UTF-8 string of `length` bytes at `pos` in `buf` (the caller checks the bounds). Short
 * strings come from the cache when it has them: one hash and one comparison of the bytes.
 */
export function cachedString(buf: Uint8Array, pos: number, length: number): string {
  const node = buf as NodeBuffer;
  if (length > CACHED_STRING_BYTES) return node.utf8Slice(pos, pos + length);
  if (length < 4) return length === 0 ? '' : cached(node, pos, length, smallHash(buf, pos, length));
  if (viewOf !== buf) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewOf = buf;
  }
  // Words of four bytes; the last one overlaps the one before when the length is not a multiple of 4.
  let hash = length;
  const last = pos + length - 4;
  for (let i = pos; i < last; i += 4) hash = Math.imul(hash ^ view.getUint32(i, true), 0x9e3779b1);
  hash = Math.imul(hash ^ view.getUint32(last, true), 0x9e3779b1);
  return cached(node, pos, length, hash ^ (hash >>> 15));
}

function smallHash(buf: Uint8Array, pos: number, length: number): number {
  let hash = length;
  for (let i = 0; i < length; i++) hash = Math.imul(hash ^ (buf[pos + i] as number), 0x9e3779b1);
  return hash ^ (hash >>> 15);
}

/** The string of `length` bytes at `pos`, from the cache slot `hash` picks, decoded on a miss. */
function cached(buf: NodeBuffer, pos: number, length: number, hash: number): string {
  const slot = hash & (CACHE_SLOTS - 1);
  const base = slot * CACHED_STRING_BYTES;
  if (cacheLengths[slot] === length + 1 && sameBytes(buf, pos, length, base))
    return cacheStrings[slot] as string;
  const decoded = buf.utf8Slice(pos, pos + length);
  cacheBytes.set(buf.subarray(pos, pos + length), base);
  cacheLengths[slot] = length + 1;
  cacheStrings[slot] = decoded;
  return decoded;
}

function sameBytes(buf: Uint8Array, pos: number, length: number, base: number): boolean {
  if (length < 4) {
    for (let i = 0; i < length; i++) if (cacheBytes[base + i] !== buf[pos + i]) return false;
    return true;
  }
  const last = length - 4;
  for (let i = 0; i < last; i += 4) {
    if (cacheView.getUint32(base + i, true) !== view.getUint32(pos + i, true)) return false;
  }
  return cacheView.getUint32(base + last, true) === view.getUint32(pos + last, true);
}
