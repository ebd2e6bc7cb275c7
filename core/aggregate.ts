import type { SampleKind } from '../schemas/index.js';
import type { Aggregator } from './aggregator.js';
import { EXT_SLOTS, STATEFUL } from './aggregates.js';
import { PipelineError } from './errors.js';
import type { SampleRow, SampleRun } from './records.js';
import { QuantileSketch, type Bins } from './sketch.js';

/** The aggregates of one series over one window. */
export interface Aggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Value and time of the earliest sample by event time (not by arrival). */
  first: number;
  firstTs: number;
  /** Value and time of the latest sample by event time. */
  last: number;
  lastTs: number;
  /** Counters: increase within the window with reset detection (a drop means the counter restarted from 0: the new value counts whole); 0 for gauges. */
  increase: number;
  kind: SampleKind;
  sketch: QuantileSketch;
  /** The own state of the registry's stateful aggregates (core/aggregates.ts), EXT_SLOTS slots. */
  ext: number[];
}

/** The accumulator of a window over raw samples. */
export interface SampleAcc {
  type: 'samples';
  /** 'counter' as soon as one sample is a counter (a series has one kind). */
  kind: SampleKind;
  count: number;
  sum: number;
  min: number;
  max: number;
  first: number;
  firstTs: number;
  last: number;
  lastTs: number;
  /**
   * The counter samples' times and values, in two flat arrays (no object per sample), sorted by
   * time (arrival order among equal ones): the increase is computed over them in time order.
   * Empty for gauges.
   */
  pointTs: number[];
  pointValue: number[];
  sketch: QuantileSketch;
  ext: number[];
}

/** The accumulator of a window over the results of a smaller window (a rollup tier). */
export interface RollupAcc {
  type: 'rollup';
  /** The latest Aggregate of each slot by its start: a corrected slot result replaces the old one. */
  slots: Map<number, Aggregate>;
  /**
   * Slots that can no longer be corrected, merged into one Aggregate (keeps the state small:
   * one folded aggregate and a few recent slots instead of every slot of the hour).
   */
  folded?: { from: number; upTo: number; aggregate: Aggregate };
}

export type Acc = SampleAcc | RollupAcc;

/** A result of the tier below, as a rollup window takes it. */
export interface Slot {
  start: number;
  aggregate: Aggregate;
}

/** The 1m tier: aggregates raw samples. `add` mutates the accumulator. */
export const sampleAggregator: Aggregator<SampleRow, SampleAcc> = {
  create: () => ({
    type: 'samples',
    kind: 'gauge',
    count: 0,
    // -0, the neutral element of IEEE addition: a sum of -0 samples stays -0 (0 + -0 is 0).
    sum: -0,
    min: Infinity,
    max: -Infinity,
    first: NaN,
    firstTs: Infinity,
    last: NaN,
    lastTs: -Infinity,
    pointTs: [],
    pointValue: [],
    sketch: new QuantileSketch(),
    ext: EXT_ZERO.slice(),
  }),
  add: (acc, row, timestamp) => addSample(acc, row.value, timestamp, row.kind === 'counter'),
};

/** The 1m tier over runs of a series' samples (core/records.ts `SampleRun`): one call per run. */
export const sampleRunAggregator: Aggregator<SampleRun, SampleAcc> = {
  create: sampleAggregator.create,
  add(acc, { columns, from, to }) {
    const { value, ts, counter } = columns;
    for (let i = from; i < to; i++) addSample(acc, value[i] as number, ts[i] as number, counter[i] === 1);
    return acc;
  },
};

function addSample(acc: SampleAcc, value: number, timestamp: number, counter: boolean): SampleAcc {
  acc.count += 1;
  acc.sum += value;
  acc.min = Math.min(acc.min, value);
  acc.max = Math.max(acc.max, value);
  if (timestamp < acc.firstTs) {
    acc.first = value;
    acc.firstTs = timestamp;
  }
  if (timestamp >= acc.lastTs) {
    acc.last = value;
    acc.lastTs = timestamp;
  }
  if (counter) {
    acc.kind = 'counter';
    // Samples mostly arrive in order: the insertion point is found from the end.
    const times = acc.pointTs;
    let at = times.length;
    while (at > 0 && (times[at - 1] as number) > timestamp) at--;
    if (at === times.length) {
      times.push(timestamp);
      acc.pointValue.push(value);
    } else {
      times.splice(at, 0, timestamp);
      acc.pointValue.splice(at, 0, value);
    }
  }
  acc.sketch.accept(value);
  for (let i = 0; i < ADDS.length; i++) (ADDS[i] as ExtAdd)(acc.ext, ADD_AT[i] as number, value);
  return acc;
}

type ExtAdd = (ext: number[], at: number, value: number) => void;
type ExtMerge = (into: number[], from: readonly number[], at: number) => void;

/** The registry's stateful aggregates flattened to arrays once: the per-sample loop reads no objects. */
// Filled with a fraction, then zeroed: the array (and every slice of it) keeps V8's double
// elements, so the first fractional value stored per window does not reallocate its storage.
const EXT_ZERO: number[] = Array.from({ length: EXT_SLOTS }, () => 0.5).fill(0);
const ADDS: ExtAdd[] = STATEFUL.flatMap(({ def }) => (def.add ? [def.add] : []));
const ADD_AT: number[] = STATEFUL.flatMap(({ def, at }) => (def.add ? [at] : []));
const MERGES: ExtMerge[] = STATEFUL.flatMap(({ def }) => (def.merge ? [def.merge] : []));
const MERGE_AT: number[] = STATEFUL.flatMap(({ def, at }) => (def.merge ? [at] : []));

/** The 1h tier: keeps the latest result of each 1m slot. `add` mutates the accumulator. */
export const rollupAggregator: Aggregator<Slot, RollupAcc> = createRollupAggregator(Infinity);

/**
 * A rollup aggregator that folds slots older than `correctableMs` behind the newest slot into
 * one aggregate: the tier below never corrects them any more (its allowed lateness is over), so
 * their separate results are no longer needed. A repeat of a folded slot (a replay) is ignored.
 */
export function createRollupAggregator(correctableMs: number): Aggregator<Slot, RollupAcc> {
  return {
    create: () => ({ type: 'rollup', slots: new Map() }),
    add(acc, { start, aggregate }) {
      if (acc.folded && start <= acc.folded.upTo) return acc;
      acc.slots.set(start, aggregate);
      // No arrays for the common case, a slot added and none final yet (this runs per 1m result).
      let newest = -Infinity;
      let oldest = Infinity;
      for (const s of acc.slots.keys()) {
        if (s > newest) newest = s;
        if (s < oldest) oldest = s;
      }
      const limit = newest - correctableMs;
      if (oldest > limit) return acc;
      const final = [...acc.slots.keys()].filter((s) => s <= limit).sort((a, b) => a - b);
      const slots = final.map((s) => acc.slots.get(s) as Aggregate);
      for (const s of final) acc.slots.delete(s);
      const upTo = final[final.length - 1] as number;
      if (acc.folded) {
        // The folded aggregate belongs to this accumulator alone: the slots are added to it in
        // place, as merging it and them into a new aggregate would (it counts as the slot before).
        appendSlots(acc.folded.aggregate, slots, acc.folded.aggregate);
        acc.folded.upTo = upTo;
      } else {
        const aggregate = emptyAggregate();
        appendSlots(aggregate, slots, undefined);
        acc.folded = { from: final[0] as number, upTo, aggregate };
      }
      return acc;
    },
  };
}

/** The Aggregate of a window; it shares nothing with the accumulator, which may change later. */
export function finalize(acc: Acc): Aggregate {
  return acc.type === 'samples' ? finalizeSamples(acc) : finalizeRollup(acc);
}

function finalizeSamples(acc: SampleAcc): Aggregate {
  let increase = 0;
  let previous: number | undefined;
  for (const value of acc.pointValue) {
    if (previous !== undefined) increase += delta(previous, value);
    previous = value;
  }
  const { count, sum, min, max, first, firstTs, last, lastTs, kind } = acc;
  return {
    count,
    sum,
    min,
    max,
    first,
    firstTs,
    last,
    lastTs,
    increase,
    kind,
    sketch: acc.sketch.copy(),
    ext: acc.ext.slice(),
  };
}

/** Merges the slots in time order: the increase also counts the steps between adjacent slots. */
function finalizeRollup(acc: RollupAcc): Aggregate {
  const out = emptyAggregate();
  const ordered = [...acc.slots].sort(([a], [b]) => a - b).map(([, slot]) => slot);
  if (acc.folded) ordered.unshift(acc.folded.aggregate);
  appendSlots(out, ordered, undefined);
  return out;
}

function emptyAggregate(): Aggregate {
  return {
    count: 0,
    // -0, the neutral element of IEEE addition: a sum of -0 samples stays -0 (0 + -0 is 0).
    sum: -0,
    min: Infinity,
    max: -Infinity,
    first: NaN,
    firstTs: Infinity,
    last: NaN,
    lastTs: -Infinity,
    increase: 0,
    kind: 'gauge',
    sketch: new QuantileSketch(),
    ext: EXT_ZERO.slice(),
  };
}

/**
 * Adds `slots` (in time order) to `out`, which holds what came before them; `before` is the
 * slot just before them (its kind and last value, read before `out` changes), if there is one.
 */
function appendSlots(out: Aggregate, slots: ReadonlyArray<Aggregate>, before: Aggregate | undefined): void {
  let previous = before !== undefined && before.count > 0;
  let previousKind = before?.kind;
  let previousLast = before?.last ?? NaN;
  for (const slot of slots) {
    if (slot.count === 0) continue;
    out.count += slot.count;
    out.sum += slot.sum;
    out.min = Math.min(out.min, slot.min);
    out.max = Math.max(out.max, slot.max);
    if (!previous) {
      out.first = slot.first;
      out.firstTs = slot.firstTs;
    }
    out.last = slot.last;
    out.lastTs = slot.lastTs;
    if (slot.kind === 'counter') {
      out.kind = 'counter';
      out.increase += slot.increase;
      if (previous && previousKind === 'counter') out.increase += delta(previousLast, slot.first);
    }
    out.sketch.merge(slot.sketch);
    for (let i = 0; i < MERGES.length; i++) (MERGES[i] as ExtMerge)(out.ext, slot.ext, MERGE_AT[i] as number);
    previous = true;
    previousKind = slot.kind;
    previousLast = slot.last;
  }
}

/** The increase of a counter from one value to the next: a drop is a restart from 0. */
function delta(from: number, to: number): number {
  return to >= from ? to - from : to;
}

export { avg, quantile, rate } from './aggregates.js';

// Changelog encoding, little-endian: version u8, type u8 (1 samples, 2 rollup), then
//   samples: kind u8, count sum min max first firstTs last lastTs f64, points u32 × (ts, value f64), sketch, ext
//   rollup:  folded u8 [from upTo f64, aggregate], slots u32 × (start f64, aggregate), by start
//   aggregate: kind u8, count … lastTs increase f64, sketch, ext
//   sketch:  zeroCount count sum min max f64, positive bins, negative bins: u32 × (key i32, count f64)
//   ext:     u8 n, n × f64: the registry's aggregate state (core/aggregates.ts) in its order. Slots a
//            record lacks (written before their entry existed, or version 2: none) read NaN; slots
//            beyond the registry's (written by a release with more entries) are skipped.
const VERSION = 3;
const VERSIONS_READ = new Set([2, 3]);
const TYPES = { samples: 1, rollup: 2 } as const;
const KINDS: readonly SampleKind[] = ['gauge', 'counter'];
const STATS = ['count', 'sum', 'min', 'max', 'first', 'firstTs', 'last', 'lastTs'] as const;
const AGGREGATE_STATS = [...STATS, 'increase'] as const;
const SKETCH_STATS = ['zeroCount', 'count', 'sum', 'min', 'max'] as const;

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
    w.u32(pointTs.length);
    for (let i = 0; i < pointTs.length; i++) {
      w.f64(pointTs[i] as number);
      w.f64(pointValue[i] as number);
    }
    writeSketch(w, acc.sketch);
    writeExt(w, acc.ext);
  } else {
    const writeAggregate = (aggregate: Aggregate) => {
      w.u8(KINDS.indexOf(aggregate.kind));
      writeStats(w, aggregate);
      w.f64(aggregate.increase);
      writeSketch(w, aggregate.sketch);
      writeExt(w, aggregate.ext);
    };
    w.u8(acc.folded ? 1 : 0);
    if (acc.folded) {
      w.f64(acc.folded.from);
      w.f64(acc.folded.upTo);
      writeAggregate(acc.folded.aggregate);
    }
    const slots = [...acc.slots].sort(([a], [b]) => a - b);
    w.u32(slots.length);
    for (const [start, aggregate] of slots) {
      w.f64(start);
      writeAggregate(aggregate);
    }
  }
}

function writeExt(w: ByteWriter, ext: readonly number[]): void {
  w.u8(ext.length);
  for (const v of ext) w.f64(v);
}

function readExt(r: Reader, version: number): number[] {
  const ext: number[] = Array.from({ length: EXT_SLOTS }, () => NaN);
  if (version < 3) return ext;
  for (let n = r.u8(), i = 0; i < n; i++) {
    const v = r.f64();
    if (i < EXT_SLOTS) ext[i] = v;
  }
  return ext;
}

/** The fields of STATS, in their order (spelled out: a loop over names reads them slowly). */
function writeStats(w: ByteWriter, s: Record<(typeof STATS)[number], number>): void {
  w.f64(s.count);
  w.f64(s.sum);
  w.f64(s.min);
  w.f64(s.max);
  w.f64(s.first);
  w.f64(s.firstTs);
  w.f64(s.last);
  w.f64(s.lastTs);
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
    const acc = found === 'samples' ? readSampleAcc(r, version) : readRollupAcc(r, version);
    r.end();
    return acc;
  } catch (error) {
    throw new PipelineError(`cannot decode a window accumulator: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function readSampleAcc(r: Reader, version: number): SampleAcc {
  const kind = readKind(r);
  const stats = r.fields(STATS);
  const pointTs: number[] = [];
  const pointValue: number[] = [];
  for (let n = r.u32(); n > 0; n--) {
    pointTs.push(r.f64());
    pointValue.push(r.f64());
  }
  const sketch = readSketch(r);
  return { type: 'samples', kind, ...stats, pointTs, pointValue, sketch, ext: readExt(r, version) };
}

function readRollupAcc(r: Reader, version: number): RollupAcc {
  const readAggregate = (): Aggregate => {
    const kind = readKind(r);
    const stats = r.fields(AGGREGATE_STATS);
    const sketch = readSketch(r);
    return { ...stats, kind, sketch, ext: readExt(r, version) };
  };
  const acc: RollupAcc = { type: 'rollup', slots: new Map() };
  if (r.u8() === 1) {
    const from = r.f64();
    const upTo = r.f64();
    acc.folded = { from, upTo, aggregate: readAggregate() };
  }
  for (let n = r.u32(); n > 0; n--) {
    const start = r.f64();
    acc.slots.set(start, readAggregate());
  }
  return acc;
}

function readKind(r: Reader): SampleKind {
  const code = r.u8();
  const kind = KINDS[code];
  if (kind === undefined) throw new Error(`unknown sample kind ${code}`);
  return kind;
}

function writeSketch(w: ByteWriter, sketch: QuantileSketch): void {
  w.f64(sketch.zeroCount);
  w.f64(sketch.count);
  w.f64(sketch.sum);
  w.f64(sketch.min);
  w.f64(sketch.max);
  writeBins(w, sketch.positive);
  writeBins(w, sketch.negative);
}

function writeBins(w: ByteWriter, bins: Bins): void {
  w.u32(bins.size);
  for (let i = 0; i < bins.size; i++) {
    w.i32(bins.keys[i] as number);
    w.f64(bins.counts[i] as number);
  }
}

function readSketch(r: Reader): QuantileSketch {
  const sketch = Object.assign(new QuantileSketch(), r.fields(SKETCH_STATS));
  for (const bins of [sketch.positive, sketch.negative]) {
    for (let n = r.u32(); n > 0; n--) bins.add(r.i32(), r.f64());
  }
  return sketch;
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

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }

  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.at, v, true);
    this.at += 4;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  /** Overwrites the u32 at `at` (a length known only after what follows it was written). */
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v, true);
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
class Reader {
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

  /** Reads one f64 per name, in order. */
  fields<K extends string>(names: readonly K[]): Record<K, number> {
    const out = {} as Record<K, number>;
    for (const name of names) out[name] = this.f64();
    return out;
  }

  end(): void {
    if (this.at !== this.buffer.length) throw new Error(`${this.buffer.length - this.at} bytes left over`);
  }
}
