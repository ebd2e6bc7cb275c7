import { grownTo } from '../core/typedArrays.js';
import type { DecodedColumns, SeriesPart } from './decodedSamples.js';

/**
 * Decodes the Avro body of a `SampleBatch` written with schemas/batch.avsc itself (the schema of
 * `produce`, the SDK and the collector) and appends its samples to `out`: what
 * `batchType.fromBuffer` gives, in columns, no object per sample. Samples whose name and labels
 * are encoded by the same bytes share one series part (one `name` string and one frozen `labels`
 * object). An agent's record repeats one series many times, and every series comes again in
 * every record: decoding its name and labels once, and letting validation recognise the labels
 * object, saves most of the work per sample. Other writer schemas go through avsc's resolvers
 * (operators/decodeRecords.ts).
 *
 * The body runs from `start` to `end` of `body` (a record's value past its wire header; by default
 * to the end of `body`): nothing past `end` is read. Throws on truncated input, trailing bytes and
 * an invalid `kind`, as avsc does; what it appended before is then the caller's to `truncate`.
 */
export function decodeSampleBatch(
  body: Buffer,
  start: number,
  out: DecodedColumns,
  end: number = body.length,
): void {
  checkRange(body, start, end);
  const reader = new Reader(body, start, end);
  let previous: SeriesPart | undefined;
  let previousStart = 0;
  let previousEnd = 0;
  for (let n = reader.blockSize(); n > 0; n = reader.blockSize()) {
    while (n-- > 0) {
      const partStart = reader.at;
      let part: SeriesPart;
      if (
        previous &&
        equalBytes(body, reader.view, previousStart, previousEnd, body, reader.view, partStart, end)
      ) {
        // The same bytes as the sample before: the same name and labels, no need to parse them.
        part = previous;
        reader.at = partStart + previousEnd - previousStart;
      } else {
        reader.skipString();
        for (let m = reader.blockSize(); m > 0; m = reader.blockSize()) {
          while (m-- > 0) {
            reader.skipString();
            reader.skipString();
          }
        }
        const hash = hashBytes(body, reader.view, partStart, reader.at);
        part =
          parts.get(body, partStart, reader.at, reader.view, hash) ??
          parts.add(body, partStart, reader.at, decodePart(body, partStart), reader.view, hash);
      }
      previous = part;
      previousStart = partStart;
      previousEnd = reader.at;
      const timestamp = reader.long();
      const value = reader.double();
      const kind = reader.long();
      if (kind !== 0 && kind !== 1) throw new Error('invalid Kind enum index');
      out.push(part, timestamp, value, kind === 1);
    }
  }
  if (reader.at < end) throw new Error('trailing data');
}

/**
 * True when `b` holds from `bStart` the bytes `a` holds in `[aStart, aEnd)`; compared four
 * bytes at a time through a view of their memory (2.5× a loop over bytes).
 */
function equalBytes(
  a: Buffer,
  aView: DataView,
  aStart: number,
  aEnd: number,
  b: Buffer,
  bView: DataView,
  bStart: number,
  bEnd: number = b.length,
): boolean {
  const length = aEnd - aStart;
  if (bStart + length > bEnd) return false;
  const aAt = a.byteOffset + aStart;
  const bAt = b.byteOffset + bStart;
  let i = 0;
  for (; i + 4 <= length; i += 4) if (aView.getInt32(aAt + i) !== bView.getInt32(bAt + i)) return false;
  for (; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** Throws unless `[start, end)` lies within `buf`: the view reads the whole memory under it. */
function checkRange(buf: Buffer, start: number, end: number): void {
  if (!(start >= 0 && start <= end && end <= buf.length))
    throw new RangeError(`bytes [${start}, ${end}) outside a buffer of ${buf.length}`);
}

/**
 * MurmurHash3 (32-bit) of `buf[start, end)` (within `buf`: `view` reads the whole memory under it), four bytes at a time: equal bytes hash equal wherever
 * they lie, and every byte reaches the low bits that pick a slot.
 */
export function hashBytes(buf: Buffer, view: DataView, start: number, end: number): number {
  const at = buf.byteOffset;
  let h = 0x9747b28c | 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = Math.imul(view.getInt32(at + i, true), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let shift = 0; i < end; i++, shift += 8) k |= (buf[i] as number) << shift;
  k = Math.imul(k, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k ^ (end - start);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * A DataView of the whole memory under `buf` (offsets from `buf.byteOffset`): the last one is
 * kept, since the records of a fetch lie in one buffer (which it keeps from the garbage collector
 * until a buffer over other memory comes).
 */
export function viewOf(buf: Buffer): DataView {
  const memory = buf.buffer;
  if (memory !== lastMemory) {
    lastMemory = memory;
    lastView = new DataView(memory);
  }
  return lastView;
}
let lastMemory: ArrayBufferLike = new ArrayBuffer(0);
let lastView: DataView = new DataView(lastMemory);

/** The series part (name and labels) encoded from `start` in `buf`, decoded. */
function decodePart(buf: Buffer, start: number): SeriesPart {
  const reader = new Reader(buf, start);
  const name = reader.string();
  const labels: Record<string, string> = {};
  for (let m = reader.blockSize(); m > 0; m = reader.blockSize()) {
    while (m-- > 0) {
      const key = reader.string();
      labels[key] = reader.string();
    }
  }
  return { name, labels: Object.freeze(labels), checked: undefined };
}

/**
 * Series parts by the bytes that encode them: an open-addressing hash table over copies of the
 * bytes, so that a lookup neither makes a string nor hashes one. Emptied when it holds
 * `maxEntries` parts or `maxBytes` bytes of them, as a cache may be (the bytes' bound is far
 * above what the entries' bound takes with identities of a few hundred bytes: it only keeps huge
 * identities from growing the table without end).
 */
export class PartTable {
  /** Per slot, the entry's index + 1; 0 for an empty slot. */
  private slots: Int32Array;
  private readonly mask: number;
  private hashes = new Int32Array(1024);
  private starts = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  private parts: SeriesPart[] = [];
  private bytes = Buffer.allocUnsafeSlow(1 << 16);
  private bytesView = new DataView(this.bytes.buffer);
  private used = 0;

  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxBytes = 256 << 20,
  ) {
    // A power of two at least 2.5 × the entries: probes stay short.
    let size = 1024;
    while (size < maxEntries * 2.5) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.parts.length;
  }

  /**
   * The part stored for the bytes `buf[start, end)`, if any. `view` (`viewOf(buf)`) and `hash`
   * (`hashBytes` of the bytes), when the caller has them.
   */
  get(buf: Buffer, start: number, end: number, view = viewOf(buf), hash?: number): SeriesPart | undefined {
    checkRange(buf, start, end);
    hash ??= hashBytes(buf, view, start, end);
    const length = end - start;
    const { slots, mask, bytes, bytesView } = this;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = (slots[at] as number) - 1;
      if (entry < 0) return undefined;
      if (this.hashes[entry] !== hash || this.lengths[entry] !== length) continue;
      if (equalBytes(buf, view, start, end, bytes, bytesView, this.starts[entry] as number))
        return this.parts[entry];
    }
  }

  /** Stores `part` for the bytes `buf[start, end)` (not stored yet) and returns it; `view` and `hash` as for `get`. */
  add(
    buf: Buffer,
    start: number,
    end: number,
    part: SeriesPart,
    view = viewOf(buf),
    hash?: number,
  ): SeriesPart {
    checkRange(buf, start, end);
    hash ??= hashBytes(buf, view, start, end);
    const length = end - start;
    if (this.parts.length >= this.maxEntries || this.used + length > this.maxBytes) this.clear();
    const entry = this.parts.length;
    if (entry === this.hashes.length) {
      this.hashes = grownTo(this.hashes, entry * 2);
      this.starts = grownTo(this.starts, entry * 2);
      this.lengths = grownTo(this.lengths, entry * 2);
    }
    if (this.used + length > this.bytes.length) {
      const bytes = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.used + length));
      this.bytes.copy(bytes, 0, 0, this.used);
      this.bytes = bytes;
      this.bytesView = new DataView(bytes.buffer);
    }
    buf.copy(this.bytes, this.used, start, end);
    this.hashes[entry] = hash;
    this.starts[entry] = this.used;
    this.lengths[entry] = length;
    this.used += length;
    this.parts.push(part);
    let at = hash & this.mask;
    while (this.slots[at] !== 0) at = (at + 1) & this.mask;
    this.slots[at] = entry + 1;
    return part;
  }

  clear(): void {
    this.slots.fill(0);
    this.parts = [];
    this.used = 0;
  }
}

/** The series parts of every batch decoded in this process. */
const parts = new PartTable();

/** Avro binary primitives over a buffer, as avsc reads them. */
class Reader {
  /** The memory under `buf`, for its doubles. */
  readonly view: DataView;
  private readonly base: number;

  constructor(
    private readonly buf: Buffer,
    public at = 0,
    /** Where the input ends in `buf`: nothing at or past it is read. */
    private readonly end = buf.length,
  ) {
    this.view = viewOf(buf);
    this.base = buf.byteOffset;
  }

  /** A zig-zag varint (Avro int and long). */
  long(): number {
    let n = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      n |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && shift < 28);
    if (b & 0x80) {
      // Past 28 bits: float arithmetic, as avsc does, so that large values do not overflow.
      let f = n;
      let fk = 268_435_456;
      do {
        b = this.byte();
        f += (b & 0x7f) * fk;
        fk *= 128;
      } while (b & 0x80);
      return (f % 2 ? -(f + 1) : f) / 2;
    }
    return (n >> 1) ^ -(n & 1);
  }

  /** The item count of an array or map block; a negative count is followed by the block's byte size. */
  blockSize(): number {
    const n = this.long();
    if (n >= 0) return n;
    this.long();
    return -n;
  }

  double(): number {
    if (this.at + 8 > this.end) throw new Error('truncated buffer');
    const v = this.view.getFloat64(this.base + this.at, true);
    this.at += 8;
    return v;
  }

  string(): string {
    const length = this.stringLength();
    const start = this.at;
    this.at += length;
    return this.buf.toString('utf8', start, this.at);
  }

  skipString(): void {
    const length = this.stringLength();
    this.at += length;
  }

  private stringLength(): number {
    const length = this.long();
    if (length < 0 || this.at + length > this.end) throw new Error('truncated buffer');
    return length;
  }

  private byte(): number {
    if (this.at >= this.end) throw new Error('truncated buffer');
    return this.buf[this.at++] as number;
  }
}
