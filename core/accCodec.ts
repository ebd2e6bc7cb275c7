import type { SampleKind } from '../schemas/index.js';
import {
  emptyRollup,
  packAggregate,
  setSlot,
  PACKED_STATS,
  type Acc,
  type Aggregate,
  type PackedAggregate,
  type RollupAcc,
  type SampleAcc,
} from './aggregate.js';
import { EXT_SLOTS } from './aggregates.js';
import { PipelineError } from './errors.js';
import { QuantileSketch, varintSize, zigzag, type Bins } from './sketch.js';

// Changelog encoding of a window accumulator, little-endian: version u8, type u8 (1 samples,
// 2 rollup), then
//   samples:   kind u8, stats, points (varint n × (ts num, value f64)), sketch, ext
//   rollup:    folded u8 [from upTo f64, aggregate], slots (varint n × (start num, aggregate)), by start
//   aggregate: kind u8, stats, increase f64, sketch, ext
//   stats:     count num, sum min max first f64, firstTs num, last f64, lastTs num
//   sketch:    u8 of flags: which of count, sum, min, max (bits 0–3) equal the stats' (and are not
//              written), the others f64; zeroCount num; positive bins, negative bins: varint n ×
//              (key as zig-zag varint from the key before, count num)
//   ext:       u8 n, n × f64: the registry's aggregate state (core/aggregates.ts) in its order. Slots a
//              record lacks (written before their entry existed, or version 2: none) read NaN; slots
//              beyond the registry's (written by a release with more entries) are skipped.
//   num:       a whole number from 0 to 2^52 as the varint of twice it; anything else as the byte
//              1 and its f64. Counts and millisecond times take 1–7 bytes instead of 8.
// Version 3 (still read) wrote counts, times and the sketch's five statistics as f64, u32 lengths
// and bins as (key i32, count f64); version 2 had no ext.
const VERSION = 4;
const VERSIONS_READ = new Set([2, 3, 4]);
const TYPES = { samples: 1, rollup: 2 } as const;
const KINDS: readonly SampleKind[] = ['gauge', 'counter'];
/** Largest whole number written as a varint (2n stays below 2^53). */
const MAX_VARINT_NUM = 2 ** 52;

/** The statistics every window keeps, in the order they are written. */
type Stats = Pick<Aggregate, 'count' | 'sum' | 'min' | 'max' | 'first' | 'firstTs' | 'last' | 'lastTs'>;

/** Encodes an accumulator for a changelog topic; equal accumulators encode to equal bytes. */
export function encodeAcc(acc: Acc): Buffer {
  const w = new ByteWriter();
  writeAcc(w, acc);
  return w.done();
}

/** Appends what `encodeAcc` gives to `w`. */
export function writeAcc(w: ByteWriter, acc: Acc): void {
  w.u8(VERSION);
  w.u8(TYPES[acc.type]);
  if (acc.type === 'samples') {
    w.u8(KINDS.indexOf(acc.kind));
    writeStats(w, acc);
    const { pointTs, pointValue } = acc;
    w.varint(pointTs.length);
    for (let i = 0; i < pointTs.length; i++) {
      w.num(pointTs[i] as number);
      w.f64(pointValue[i] as number);
    }
    writeSketch(w, acc.sketch, acc);
    writeExt(w, acc.ext);
  } else {
    w.u8(acc.folded ? 1 : 0);
    if (acc.folded) {
      w.f64(acc.folded.from);
      w.f64(acc.folded.upTo);
      writeAggregate(w, acc.folded.aggregate);
    }
    // By start, as the accumulator keeps them.
    const { starts, slots } = acc;
    w.varint(starts.length);
    for (let i = 0; i < starts.length; i++) {
      w.num(starts[i] as number);
      writePacked(w, slots[i] as PackedAggregate);
    }
  }
}

/** An aggregate: kind, statistics, increase, sketch and ext. */
function writeAggregate(w: ByteWriter, aggregate: Aggregate): void {
  w.u8(KINDS.indexOf(aggregate.kind));
  writeStats(w, aggregate);
  w.f64(aggregate.increase);
  writeSketch(w, aggregate.sketch, aggregate);
  writeExt(w, aggregate.ext);
}

/**
 * What `writeAggregate` writes for the aggregate a packed slot holds (core/aggregate.ts
 * `packAggregate`), read from its array: a commit encodes every changed series' slots. No
 * closure inside: each one made per call costs a `defineProperty` (the name esbuild keeps).
 */
function writePacked(w: ByteWriter, p: PackedAggregate): void {
  w.u8(p[9] as number);
  w.num(p[0] as number);
  w.f64(p[1] as number);
  w.f64(p[2] as number);
  w.f64(p[3] as number);
  w.f64(p[4] as number);
  w.num(p[5] as number);
  w.f64(p[6] as number);
  w.num(p[7] as number);
  w.f64(p[8] as number);
  let at = PACKED_STATS + EXT_SLOTS;
  // One by one: destructuring an array literal made an array and an iterator per slot.
  const zeroCount = p[at] as number;
  const count = p[at + 1] as number;
  const sum = p[at + 2] as number;
  const min = p[at + 3] as number;
  const max = p[at + 4] as number;
  at += 5;
  let flags = 0;
  if (Object.is(count, p[0] as number)) flags |= 1;
  if (Object.is(sum, p[1] as number)) flags |= 2;
  if (Object.is(min, p[2] as number)) flags |= 4;
  if (Object.is(max, p[3] as number)) flags |= 8;
  w.u8(flags);
  if (!(flags & 1)) w.f64(count);
  if (!(flags & 2)) w.f64(sum);
  if (!(flags & 4)) w.f64(min);
  if (!(flags & 8)) w.f64(max);
  w.num(zeroCount);
  for (let sign = 0; sign < 2; sign++) {
    const n = p[at++] as number;
    w.varint(n);
    let previous = 0;
    for (let i = 0; i < n; i++) {
      const key = p[at + i] as number;
      w.varint(zigzag(key - previous));
      w.num(p[at + n + i] as number);
      previous = key;
    }
    at += 2 * n;
  }
  w.u8(EXT_SLOTS);
  for (let i = 0; i < EXT_SLOTS; i++) w.f64(p[PACKED_STATS + i] as number);
}

/** The statistics, spelled out: a loop over names reads them slowly. */
function writeStats(w: ByteWriter, s: Stats): void {
  w.num(s.count);
  w.f64(s.sum);
  w.f64(s.min);
  w.f64(s.max);
  w.f64(s.first);
  w.num(s.firstTs);
  w.f64(s.last);
  w.num(s.lastTs);
}

function writeSketch(w: ByteWriter, sketch: QuantileSketch, stats: Stats): void {
  // The sketch sees every value its window does: its statistics mostly equal the window's.
  let flags = 0;
  if (Object.is(sketch.count, stats.count)) flags |= 1;
  if (Object.is(sketch.sum, stats.sum)) flags |= 2;
  if (Object.is(sketch.min, stats.min)) flags |= 4;
  if (Object.is(sketch.max, stats.max)) flags |= 8;
  w.u8(flags);
  if (!(flags & 1)) w.f64(sketch.count);
  if (!(flags & 2)) w.f64(sketch.sum);
  if (!(flags & 4)) w.f64(sketch.min);
  if (!(flags & 8)) w.f64(sketch.max);
  w.num(sketch.zeroCount);
  writeBins(w, sketch.positive);
  writeBins(w, sketch.negative);
}

function writeBins(w: ByteWriter, bins: Bins): void {
  w.varint(bins.size);
  let previous = 0;
  for (let i = 0; i < bins.size; i++) {
    const key = bins.keys[i] as number;
    w.varint(zigzag(key - previous));
    w.num(bins.counts[i] as number);
    previous = key;
  }
}

function writeExt(w: ByteWriter, ext: readonly number[]): void {
  w.u8(ext.length);
  for (const v of ext) w.f64(v);
}

/** Decodes what `encodeAcc` wrote; with `type`, fails unless the accumulator is of that type. */
export function decodeAcc(buffer: Buffer, type: 'samples'): SampleAcc;
export function decodeAcc(buffer: Buffer, type: 'rollup'): RollupAcc;
export function decodeAcc(buffer: Buffer, type?: Acc['type']): Acc;
export function decodeAcc(buffer: Buffer, type?: Acc['type']): Acc {
  try {
    const r = new Reader(buffer);
    const version = r.u8();
    if (!VERSIONS_READ.has(version)) throw new Error(`unknown version ${version}`);
    const code = r.u8();
    const found = code === TYPES.samples ? 'samples' : code === TYPES.rollup ? 'rollup' : undefined;
    if (found === undefined) throw new Error(`unknown accumulator type ${code}`);
    if (type !== undefined && found !== type)
      throw new Error(`expected a ${type} accumulator, found ${found}`);
    const read = new AccReader(r, version);
    const acc = found === 'samples' ? read.samples() : read.rollup();
    r.end();
    return acc;
  } catch (error) {
    throw new PipelineError(`cannot decode a window accumulator: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Reads the accumulators of one version (4, or the fixed-width 2 and 3). */
class AccReader {
  private readonly compact: boolean;

  constructor(
    private readonly r: Reader,
    private readonly version: number,
  ) {
    this.compact = version >= 4;
  }

  samples(): SampleAcc {
    const kind = this.kind();
    const stats = this.stats();
    const pointTs: number[] = [];
    const pointValue: number[] = [];
    for (let n = this.length(); n > 0; n--) {
      pointTs.push(this.whole());
      pointValue.push(this.r.f64());
    }
    const sketch = this.sketch(stats);
    return { type: 'samples', kind, ...stats, pointTs, pointValue, sketch, ext: this.ext() };
  }

  rollup(): RollupAcc {
    const acc = emptyRollup();
    if (this.r.u8() === 1) {
      const from = this.r.f64();
      const upTo = this.r.f64();
      acc.folded = { from, upTo, aggregate: this.aggregate() };
    }
    for (let n = this.length(); n > 0; n--) {
      const start = this.compact ? this.r.num() : this.r.f64();
      setSlot(acc, start, packAggregate(this.aggregate()));
    }
    return acc;
  }

  private aggregate(): Aggregate {
    const kind = this.kind();
    const stats = this.stats();
    const increase = this.r.f64();
    const sketch = this.sketch(stats);
    return { ...stats, increase, kind, sketch, ext: this.ext() };
  }

  private kind(): SampleKind {
    const code = this.r.u8();
    const kind = KINDS[code];
    if (kind === undefined) throw new Error(`unknown sample kind ${code}`);
    return kind;
  }

  private stats(): Stats {
    const r = this.r;
    const count = this.whole();
    const sum = r.f64();
    const min = r.f64();
    const max = r.f64();
    const first = r.f64();
    const firstTs = this.whole();
    const last = r.f64();
    const lastTs = this.whole();
    return { count, sum, min, max, first, firstTs, last, lastTs };
  }

  private sketch(stats: Stats): QuantileSketch {
    const r = this.r;
    const sketch = new QuantileSketch();
    if (this.compact) {
      const flags = r.u8();
      sketch.count = flags & 1 ? stats.count : r.f64();
      sketch.sum = flags & 2 ? stats.sum : r.f64();
      sketch.min = flags & 4 ? stats.min : r.f64();
      sketch.max = flags & 8 ? stats.max : r.f64();
      sketch.zeroCount = r.num();
      for (let sign = 0; sign < 2; sign++) {
        const n = r.varint();
        if (n === 0) continue;
        const bins = sign === 0 ? sketch.positive : sketch.negativeBins();
        let key = 0;
        for (let i = 0; i < n; i++) {
          key += unzigzag(r.varint());
          bins.add(key, r.num());
        }
      }
    } else {
      sketch.zeroCount = r.f64();
      sketch.count = r.f64();
      sketch.sum = r.f64();
      sketch.min = r.f64();
      sketch.max = r.f64();
      for (let sign = 0; sign < 2; sign++) {
        const n = r.u32();
        if (n === 0) continue;
        const bins = sign === 0 ? sketch.positive : sketch.negativeBins();
        for (let i = 0; i < n; i++) bins.add(r.i32(), r.f64());
      }
    }
    return sketch;
  }

  private ext(): number[] {
    const ext: number[] = Array.from({ length: EXT_SLOTS }, () => NaN);
    if (this.version < 3) return ext;
    for (let n = this.r.u8(), i = 0; i < n; i++) {
      const v = this.r.f64();
      if (i < EXT_SLOTS) ext[i] = v;
    }
    return ext;
  }

  /** A count or a time: `num` from version 4, f64 before. */
  private whole(): number {
    return this.compact ? this.r.num() : this.r.f64();
  }

  private length(): number {
    return this.compact ? this.r.varint() : this.r.u32();
  }
}

function unzigzag(n: number): number {
  return (n >>> 1) ^ -(n & 1);
}

/** Little-endian binary output that grows as needed. */
export class ByteWriter {
  private buffer: Buffer;
  private view: DataView;
  private at = 0;

  constructor(capacity = 256) {
    this.buffer = Buffer.allocUnsafe(capacity);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.at;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buffer[this.at++] = v;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  /** An unsigned LEB128 varint of a whole number from 0 to 2^53 − 1. */
  varint(v: number): void {
    this.reserve(8);
    const buffer = this.buffer;
    let at = this.at;
    // Above 2^28 (times in ms, twice over in `num`): the low 28 bits as four bytes, with bit
    // operations on each half rather than a float division per byte.
    if (v >= 0x10000000) {
      const low = v % 0x10000000;
      buffer[at++] = (low & 0x7f) | 0x80;
      buffer[at++] = ((low >>> 7) & 0x7f) | 0x80;
      buffer[at++] = ((low >>> 14) & 0x7f) | 0x80;
      buffer[at++] = ((low >>> 21) & 0x7f) | 0x80;
      v = (v - low) / 0x10000000;
      while (v >= 0x80) {
        buffer[at++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else
      while (v >= 0x80) {
        buffer[at++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    buffer[at++] = v;
    this.at = at;
  }

  /** A whole number from 0 to 2^52 as the varint of twice it, anything else (−0 too) as 1 and its f64. */
  num(v: number): void {
    if (Number.isInteger(v) && v >= 0 && v <= MAX_VARINT_NUM && !Object.is(v, -0)) this.varint(v * 2);
    else {
      this.u8(1);
      this.f64(v);
    }
  }

  /** Puts the varint length of what was written since `at` in front of it. */
  prefixLength(at: number): void {
    const length = this.at - at;
    const size = varintSize(length);
    this.reserve(size);
    this.buffer.copyWithin(at + size, at, this.at);
    const end = this.at + size;
    this.at = at;
    this.varint(length);
    this.at = end;
  }

  /** A copy of the bytes written; the writer can then be `reset` and used again. */
  done(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.at));
  }

  reset(): void {
    this.at = 0;
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}

/** Reads what `ByteWriter` wrote; Buffer's reads throw a RangeError past the end. */
export class Reader {
  private at = 0;

  constructor(private readonly buffer: Buffer) {}

  u8(): number {
    const v = this.buffer.readUInt8(this.at);
    this.at += 1;
    return v;
  }

  u32(): number {
    const v = this.buffer.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  i32(): number {
    const v = this.buffer.readInt32LE(this.at);
    this.at += 4;
    return v;
  }

  f64(): number {
    const v = this.buffer.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new Error('varint longer than 8 bytes');
    }
  }

  /** The next `length` bytes (a view, not a copy). */
  take(length: number): Buffer {
    if (this.at + length > this.buffer.length) throw new RangeError(`${length} bytes past the end`);
    const out = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  num(): number {
    const first = this.buffer.readUInt8(this.at);
    if (first === 1) {
      this.at += 1;
      return this.f64();
    }
    return this.varint() / 2;
  }

  end(): void {
    if (this.at !== this.buffer.length) throw new Error(`${this.buffer.length - this.at} bytes left over`);
  }
}
