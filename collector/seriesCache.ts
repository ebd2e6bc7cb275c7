/**
 * Series by the bytes they arrived as. The fast decoders (JSON batches, remote_write) look a
 * series up by the raw bytes of its name and labels before decoding them; on a hit they skip
 * decoding the labels, and the collector skips validating, hashing and encoding the series
 * again (see `ClientSeries`): a series comes back with every scrape or push, while most of its
 * cost is in its labels. The same bytes always decode to the same series, and keys are compared
 * byte for byte, so a hit is exact. A key is one or two byte ranges (the name and the labels
 * of a JSON sample lie apart). Bounded: once it holds `limit` keys it starts over empty.
 *
 * Keys are hashed and compared four bytes at a time, through DataViews: one per stored key,
 * and one per buffer looked up in (kept while the same buffer comes again).
 */
export class SeriesCache<T> {
  private readonly entries = new Map<number, { key: DataView; split: number; value: T }>();

  constructor(private readonly limit: number) {}

  /**
   * The value stored under the bytes `a[aStart, aEnd)` followed by `b[bStart, bEnd)`, whose
   * `hashKey` is `hash`.
   */
  get(
    hash: number,
    a: Uint8Array,
    aStart: number,
    aEnd: number,
    b: Uint8Array,
    bStart: number,
    bEnd: number,
  ): T | undefined {
    const entry = this.entries.get(hash);
    if (entry === undefined) return undefined;
    const { key, split } = entry;
    if (split !== aEnd - aStart || key.byteLength !== split + bEnd - bStart) return undefined;
    if (!same(key, 0, viewA(a), aStart, aEnd) || !same(key, split, viewB(b), bStart, bEnd)) return undefined;
    return entry.value;
  }

  /** Stores `value` under a copy of the key bytes (replacing a key with the same hash). */
  set(
    hash: number,
    a: Uint8Array,
    aStart: number,
    aEnd: number,
    b: Uint8Array,
    bStart: number,
    bEnd: number,
    value: T,
  ): void {
    if (this.entries.size >= this.limit) this.entries.clear();
    const split = aEnd - aStart;
    const key = new Uint8Array(split + bEnd - bStart);
    key.set(a.subarray(aStart, aEnd));
    key.set(b.subarray(bStart, bEnd), split);
    this.entries.set(hash, { key: new DataView(key.buffer), split, value });
  }
}

/**
 * The key's hash for `SeriesCache`: MurmurHash3 (x86, 32-bit) steps over `a[aStart, aEnd)`,
 * then over `b[bStart, bEnd)`, folded to 30 bits so that it stays a small integer, the cheapest
 * kind of Map key.
 */
export function hashKey(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  let h = hashRange(aEnd - aStart, viewA(a), aStart, aEnd);
  h = hashRange(h, viewB(b), bStart, bEnd);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x3fffffff;
}

function hashRange(seed: number, view: DataView, start: number, end: number): number {
  let h = seed;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = view.getInt32(i, true);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let k = 0;
    for (let shift = 0; i < end; i++, shift += 8) k |= view.getUint8(i) << shift;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return h;
}

/** True when `buf[start, end)` equals the bytes of `key` from `at` on. */
function same(key: DataView, at: number, buf: DataView, start: number, end: number): boolean {
  let i = start;
  let j = at;
  for (; i + 4 <= end; i += 4, j += 4) if (key.getInt32(j, true) !== buf.getInt32(i, true)) return false;
  for (; i < end; i++, j++) if (key.getUint8(j) !== buf.getUint8(i)) return false;
  return true;
}

// DataViews on the buffers last looked up in, one per argument: a request's body comes again
// and again (the labels of a JSON sample without labels come from another buffer).
let lastA: Uint8Array | undefined;
let lastViewA: DataView = new DataView(new ArrayBuffer(0));
let lastB: Uint8Array | undefined;
let lastViewB = lastViewA;

function viewA(buf: Uint8Array): DataView {
  if (buf !== lastA) {
    lastA = buf;
    lastViewA = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return lastViewA;
}

function viewB(buf: Uint8Array): DataView {
  if (buf !== lastB) {
    lastB = buf;
    lastViewB = buf === lastA ? lastViewA : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return lastViewB;
}
