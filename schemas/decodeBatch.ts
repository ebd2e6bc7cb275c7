import type { DecodedColumns, SeriesPart } from './decodedSamples.js';

/** Series parts by the bytes that encode them (latin1 text of the bytes); cleared when full. */
const parts = new Map<string, SeriesPart>();
const PARTS_LIMIT = 100_000;

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
 * Throws on truncated input, trailing bytes and an invalid `kind`, as avsc does; what it
 * appended before is then the caller's to `truncate`.
 */
export function decodeSampleBatch(body: Buffer, out: DecodedColumns): void {
  const reader = new Reader(body);
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
        part = intern(body, start, reader.at);
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

/** The series part encoded by `buf[start, end)`: decoded once, then shared. */
function intern(buf: Buffer, start: number, end: number): SeriesPart {
  const bytes = buf.toString('latin1', start, end);
  const known = parts.get(bytes);
  if (known) return known;
  const reader = new Reader(buf, start);
  const name = reader.string();
  const labels: Record<string, string> = {};
  for (let m = reader.blockSize(); m > 0; m = reader.blockSize()) {
    while (m-- > 0) {
      const key = reader.string();
      labels[key] = reader.string();
    }
  }
  const part = { name, labels: Object.freeze(labels) };
  if (parts.size >= PARTS_LIMIT) parts.clear();
  parts.set(bytes, part);
  return part;
}

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
