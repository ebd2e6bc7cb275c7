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
 * The body runs from `start` to the end of `body` (a record's value past its wire header). Throws
 * on truncated input, trailing bytes and an invalid `kind`, as avsc does; what it appended before
 * is then the caller's to `truncate`.
 */
export function decodeSampleBatch(body: Buffer, out: DecodedColumns, start = 0): void {
  const reader = new Reader(body, start);
  let previous: SeriesPart | undefined;
  let previousStart = 0;
  let previousEnd = 0;
  for (let n = reader.blockSize(); n > 0; n = reader.blockSize()) {
    while (n-- > 0) {
      const start = reader.at;
      let part: SeriesPart;
      if (previous && sameBytes(body, previousStart, previousEnd, start)) {
        // The same bytes as the sample before: the same name and labels, no need to parse them.
        part = previous;
        reader.at = start + previousEnd - previousStart;
      } else {
        reader.skipString();
        for (let m = reader.blockSize(); m > 0; m = reader.blockSize()) {
          while (m-- > 0) {
            reader.skipString();
            reader.skipString();
          }
        }
        part =
          parts.get(body, start, reader.at) ?? parts.add(body, start, reader.at, decodePart(body, start));
      }
      previous = part;
      previousStart = start;
      previousEnd = reader.at;
      const timestamp = reader.long();
      const value = reader.double();
      const kind = reader.long();
      if (kind !== 0 && kind !== 1) throw new Error('invalid Kind enum index');
      out.push(part, timestamp, value, kind === 1);
    }
  }
  if (reader.at < body.length) throw new Error('trailing data');
}

/** True when `buf` holds at `bStart` the bytes of `[aStart, aEnd)` again. */
function sameBytes(buf: Buffer, aStart: number, aEnd: number, bStart: number): boolean {
  const length = aEnd - aStart;
  if (bStart + length > buf.length) return false;
  for (let i = 0; i < length; i++) if (buf[aStart + i] !== buf[bStart + i]) return false;
  return true;
}

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
  return { name, labels: Object.freeze(labels) };
}

/**
 * Series parts by the bytes that encode them: an open-addressing hash table over copies of the
 * bytes, so that a lookup neither makes a string nor hashes one. Emptied when it holds
 * `maxEntries` parts or `maxBytes` bytes of them, as a cache may be.
 */
export class PartTable {
  /** Per slot, the entry's index + 1; 0 for an empty slot. */
  private slots: Int32Array;
  private readonly mask: number;
  private hashes = new Int32Array(1024);
  private starts = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  private parts: SeriesPart[] = [];
  private bytes = Buffer.allocUnsafe(1 << 16);
  private used = 0;

  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxBytes = 32 << 20,
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

  /** The part stored for the bytes `buf[start, end)`, if any. */
  get(buf: Buffer, start: number, end: number): SeriesPart | undefined {
    const hash = hashBytes(buf, start, end);
    const length = end - start;
    const { slots, mask, bytes } = this;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = (slots[at] as number) - 1;
      if (entry < 0) return undefined;
      if (this.hashes[entry] !== hash || this.lengths[entry] !== length) continue;
      const from = (this.starts[entry] as number) - start;
      let i = start;
      while (i < end && buf[i] === bytes[from + i]) i++;
      if (i === end) return this.parts[entry];
    }
  }

  /** Stores `part` for the bytes `buf[start, end)` (not stored yet) and returns it. */
  add(buf: Buffer, start: number, end: number, part: SeriesPart): SeriesPart {
    const length = end - start;
    if (this.parts.length >= this.maxEntries || this.used + length > this.maxBytes) this.clear();
    const entry = this.parts.length;
    if (entry === this.hashes.length) {
      this.hashes = grownTo(this.hashes, entry * 2);
      this.starts = grownTo(this.starts, entry * 2);
      this.lengths = grownTo(this.lengths, entry * 2);
    }
    if (this.used + length > this.bytes.length) {
      const bytes = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + length));
      this.bytes.copy(bytes, 0, 0, this.used);
      this.bytes = bytes;
    }
    buf.copy(this.bytes, this.used, start, end);
    const hash = hashBytes(buf, start, end);
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

/** FNV-1a over `buf[start, end)`. */
function hashBytes(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  return h;
}

/** The series parts of every batch decoded in this process. */
const parts = new PartTable();

/** Avro binary primitives over a buffer, as avsc reads them. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public at = 0,
  ) {}

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
    if (this.at + 8 > this.buf.length) throw new Error('truncated buffer');
    const v = this.buf.readDoubleLE(this.at);
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
    if (length < 0 || this.at + length > this.buf.length) throw new Error('truncated buffer');
    return length;
  }

  private byte(): number {
    const b = this.buf[this.at++];
    if (b === undefined) throw new Error('truncated buffer');
    return b;
  }
}
