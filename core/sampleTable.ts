import { ADD_AT, ADDS, delta, type Aggregate, type ExtAdd, type SampleAcc } from './aggregate.js';
import { EXT_SLOTS } from './aggregates.js';
import type { SampleColumns } from './sampleColumns.js';
import { keyOf, MIN_POSSIBLE, QuantileSketch, type Bins } from './sketch.js';
import { grownTo } from './typedArrays.js';

/** Where each statistic lies in a slot's row of `SampleTable.stats`. */
const COUNT = 0;
const SUM = 1;
const MIN = 2;
const MAX = 3;
const FIRST = 4;
const FIRST_TS = 5;
const LAST = 6;
const LAST_TS = 7;
const ZEROS = 8;
const SKETCH_MIN = 9;
const SKETCH_MAX = 10;
const EXT = 11;
/**
 * Numbers per row, a multiple of 8: a row is whole 64-byte spans (16 numbers: two cache lines, or
 * three when the array does not start on a line).
 */
const STRIDE = Math.ceil((EXT + EXT_SLOTS) / 8) * 8;

/**
 * The windows of the first tier of one partition, over raw samples, in flat arrays: one slot per
 * window, its statistics one row of a typed array (`stats`), its start, revision and series
 * columns indexed by slot, the sketch's bins and a counter's points in two shared pools of sorted
 * runs. No object per window or per sample: a million open windows are a few dozen arrays, which
 * the garbage collector does not walk, and closing windows scans typed arrays instead of a map of
 * objects. A row rather than a column per statistic: windows are touched one at a time, in no
 * order the slots follow (10,000 series interleaved), and each touch then reads two cache lines
 * instead of one in each of fourteen columns.
 *
 * The windows of a series form a list (`head`, `next`), in the order they were opened. Slots of
 * deleted windows are reused. What a slot holds is what `SampleAcc` (core/aggregate.ts) holds, and
 * `view` gives it as one, for the changelog's encoding; `load` takes one back from a restore.
 */
/** Numbers the tables of this process (and thread): `BatchSeries.numberedBy`. */
let tablesMade = 0;

export class SampleTable {
  /** Unique in this thread: which table numbered a series (`BatchSeries.numberedBy`). */
  readonly uid = ++tablesMade;
  /** Slots allocated so far (live or free). */
  private used = 0;
  private capacity: number;
  private readonly free: number[] = [];
  private live = 0;
  private openings = 0;

  // Per slot: `start` and `opened` are columns (a close reads them for every slot); a window's
  // aggregate is its row of `stats`.
  start: Float64Array;
  /**
   * Per slot, `STRIDE` numbers from `slot * STRIDE`: count, sum, min, max, first, firstTs, last,
   * lastTs, zeros (samples that counted as zero in the sketch), sketchMin and sketchMax (the
   * sketch's own least and greatest value: as `QuantileSketch.accept` keeps them, the first of
   * equal values, so 0 and -0 stay apart from the window's `Math.min`/`Math.max`), then the
   * EXT_SLOTS of the registry's stateful aggregates (core/aggregates.ts).
   */
  stats: Float64Array;
  /** The order windows were opened in (restored ones in the changelog's order): ties close in it. */
  opened: Float64Array;
  /** 0 until the window's first result; -1 for a free slot. */
  revision: Int32Array;
  /** 1 once a sample was a counter. */
  counter: Uint8Array;
  /** The series of the window; -1 for a free slot. */
  seriesOf: Int32Array;
  /** The series' next window, -1 at the end of its list. */
  next: Int32Array;

  /** The sketch's bins of each slot: key (negative values' keys shifted below every positive one), count. */
  readonly bins = new RunPool();
  /** A counter's samples of each slot, sorted by time (arrival order among equal ones): time, value. */
  readonly points = new RunPool();

  // Per series.
  private readonly seriesIds = new Map<string, number>();
  private readonly keys: string[] = [];
  private head = new Int32Array(64).fill(-1);

  constructor(capacity = 256) {
    this.capacity = capacity;
    this.start = new Float64Array(capacity);
    this.stats = new Float64Array(capacity * STRIDE);
    this.opened = new Float64Array(capacity);
    this.revision = new Int32Array(capacity);
    this.counter = new Uint8Array(capacity);
    this.seriesOf = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** Windows held. */
  get size(): number {
    return this.live;
  }

  /** One past the highest slot ever used: live slots are those below it with `seriesOf` ≥ 0. */
  get slots(): number {
    return this.used;
  }

  /** The series number of `key`, made if new. */
  series(key: string): number {
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      id = this.keys.length;
      this.keys.push(key);
      this.seriesIds.set(key, id);
      if (id >= this.head.length) {
        const grown = new Int32Array(this.head.length * 2).fill(-1);
        grown.set(this.head);
        this.head = grown;
      }
    }
    return id;
  }

  /** The series number of `key`, or -1. */
  seriesIfAny(key: string): number {
    return this.seriesIds.get(key) ?? -1;
  }

  keyOf(series: number): string {
    return this.keys[series] as string;
  }

  /** The first window of a series (-1: none); `next` gives the others. */
  firstWindow(series: number): number {
    return this.head[series] as number;
  }

  /** The window of `series` that starts at `start`, or -1. */
  find(series: number, start: number): number {
    for (let slot = this.head[series] as number; slot >= 0; slot = this.next[slot] as number)
      if (this.start[slot] === start) return slot;
    return -1;
  }

  /** Opens an empty window of `series` at `start` (last in the series' list). */
  open(series: number, start: number): number {
    const slot = this.allocate();
    this.start[slot] = start;
    const stats = this.stats;
    const row = slot * STRIDE;
    stats[row + COUNT] = 0;
    // -0, the neutral element of IEEE addition: a sum of -0 samples stays -0 (0 + -0 is 0).
    stats[row + SUM] = -0;
    stats[row + MIN] = Infinity;
    stats[row + MAX] = -Infinity;
    stats[row + FIRST] = NaN;
    stats[row + FIRST_TS] = Infinity;
    stats[row + LAST] = NaN;
    stats[row + LAST_TS] = -Infinity;
    stats[row + ZEROS] = 0;
    stats[row + SKETCH_MIN] = Infinity;
    stats[row + SKETCH_MAX] = -Infinity;
    stats.fill(0, row + EXT, row + EXT + EXT_SLOTS);
    this.opened[slot] = this.openings++;
    this.revision[slot] = 0;
    this.counter[slot] = 0;
    this.seriesOf[slot] = series;
    this.next[slot] = -1;
    let at = this.head[series] as number;
    if (at < 0) this.head[series] = slot;
    else {
      while ((this.next[at] as number) >= 0) at = this.next[at] as number;
      this.next[at] = slot;
    }
    this.live++;
    return slot;
  }

  /** Deletes a window: its slot is free for another. */
  delete(slot: number): void {
    const series = this.seriesOf[slot] as number;
    if (series < 0) return;
    let at = this.head[series] as number;
    if (at === slot) this.head[series] = this.next[slot] as number;
    else {
      while ((this.next[at] as number) !== slot) at = this.next[at] as number;
      this.next[at] = this.next[slot] as number;
    }
    this.seriesOf[slot] = -1;
    this.revision[slot] = -1;
    this.bins.release(slot);
    this.points.release(slot);
    this.free.push(slot);
    this.live--;
  }

  /** Adds samples [from, to) of the columns (one series, one window) to a window. */
  add(slot: number, columns: SampleColumns, from: number, to: number): void {
    const { value, ts, counter } = columns;
    for (let i = from; i < to; i++) this.addOne(slot, value[i] as number, ts[i] as number, counter[i] === 1);
  }

  addOne(slot: number, value: number, timestamp: number, counter: boolean): void {
    const stats = this.stats;
    const row = slot * STRIDE;
    stats[row + COUNT] = (stats[row + COUNT] as number) + 1;
    stats[row + SUM] = (stats[row + SUM] as number) + value;
    stats[row + MIN] = Math.min(stats[row + MIN] as number, value);
    stats[row + MAX] = Math.max(stats[row + MAX] as number, value);
    if (value < (stats[row + SKETCH_MIN] as number)) stats[row + SKETCH_MIN] = value;
    if (value > (stats[row + SKETCH_MAX] as number)) stats[row + SKETCH_MAX] = value;
    if (timestamp < (stats[row + FIRST_TS] as number)) {
      stats[row + FIRST] = value;
      stats[row + FIRST_TS] = timestamp;
    }
    if (timestamp >= (stats[row + LAST_TS] as number)) {
      stats[row + LAST] = value;
      stats[row + LAST_TS] = timestamp;
    }
    if (counter) {
      this.counter[slot] = 1;
      this.points.insertAfter(slot, timestamp, value);
    }
    if (value > MIN_POSSIBLE) this.bins.addTo(slot, keyOf(value), 1);
    else if (value < -MIN_POSSIBLE) this.bins.addTo(slot, keyOf(-value) - NEGATIVE, 1);
    else stats[row + ZEROS] = (stats[row + ZEROS] as number) + 1;
    const ext = stats as unknown as number[];
    const base = row + EXT;
    for (let i = 0; i < ADDS.length; i++) (ADDS[i] as ExtAdd)(ext, base + (ADD_AT[i] as number), value);
  }

  /**
   * The window's aggregate, as `finalize` (core/aggregate.ts) gives it for its `SampleAcc`. With `into`, they are written over it (its sketch and arrays reused)
   * and it is returned: nothing is allocated per result. Either way it shares nothing with the table.
   */
  aggregate(slot: number, into?: Aggregate): Aggregate {
    let increase = 0;
    const points = this.points.pairs;
    // A slot's handle has no entry in a pool until a run of it is written (gauges write no points).
    const at = this.points.startOf(slot);
    const n = this.points.lengthOf(slot);
    for (let i = 1; i < n; i++)
      increase += delta(points[2 * (at + i - 1) + 1] as number, points[2 * (at + i) + 1] as number);
    const out: Aggregate = into ?? {
      count: 0,
      sum: 0,
      min: 0,
      max: 0,
      first: 0,
      firstTs: 0,
      last: 0,
      lastTs: 0,
      increase: 0,
      kind: 'gauge',
      sketch: new QuantileSketch(),
      ext: EXT_TEMPLATE.slice(),
    };
    this.writeStats(slot, out);
    this.fillSketch(slot, out.sketch);
    out.increase = increase;
    return out;
  }

  /** A window's statistics, kind and ext slots, written over `out`'s (its ext array reused). */
  private writeStats(slot: number, out: Omit<Aggregate, 'increase' | 'sketch'>): void {
    out.kind = this.counter[slot] === 1 ? 'counter' : 'gauge';
    const stats = this.stats;
    const row = slot * STRIDE;
    out.count = stats[row + COUNT] as number;
    out.sum = stats[row + SUM] as number;
    out.min = stats[row + MIN] as number;
    out.max = stats[row + MAX] as number;
    out.first = stats[row + FIRST] as number;
    out.firstTs = stats[row + FIRST_TS] as number;
    out.last = stats[row + LAST] as number;
    out.lastTs = stats[row + LAST_TS] as number;
    // A loop, not `Array.from(subarray)`: a view and an iterator per result cost more than the copy.
    const ext = out.ext;
    for (let i = 0; i < EXT_SLOTS; i++) ext[i] = stats[row + EXT + i] as number;
    if (ext.length !== EXT_SLOTS) ext.length = EXT_SLOTS;
  }

  /**
   * The window as a `SampleAcc` written into `into` (its arrays and sketch reused): what the
   * changelog encodes. It shares nothing with the table.
   */
  view(slot: number, into: SampleAcc): SampleAcc {
    this.writeStats(slot, into);
    // Written over in place, then cut to length: `length = 0` would drop the arrays' storage, and
    // the changelog views every changed window of every commit into the same few accumulators.
    // A slot's handle has no entry in a pool until a run of it is written (gauges write no points).
    const at = this.points.startOf(slot);
    const n = this.points.lengthOf(slot);
    const { pointTs, pointValue } = into;
    for (let i = 0; i < n; i++) {
      pointTs[i] = this.points.a(at + i);
      pointValue[i] = this.points.b(at + i);
    }
    if (pointTs.length !== n) {
      pointTs.length = n;
      pointValue.length = n;
    }
    this.fillSketch(slot, into.sketch);
    return into;
  }

  /** Opens a window restored from a changelog (its accumulator as decoded). */
  load(key: string, start: number, revision: number, acc: SampleAcc): number {
    const series = this.series(key);
    const slot = this.open(series, start);
    const stats = this.stats;
    const row = slot * STRIDE;
    stats[row + COUNT] = acc.count;
    stats[row + SUM] = acc.sum;
    stats[row + MIN] = acc.min;
    stats[row + MAX] = acc.max;
    stats[row + FIRST] = acc.first;
    stats[row + FIRST_TS] = acc.firstTs;
    stats[row + LAST] = acc.last;
    stats[row + LAST_TS] = acc.lastTs;
    stats[row + ZEROS] = acc.sketch.zeroCount;
    stats[row + SKETCH_MIN] = acc.sketch.min;
    stats[row + SKETCH_MAX] = acc.sketch.max;
    this.counter[slot] = acc.kind === 'counter' ? 1 : 0;
    this.revision[slot] = revision;
    for (let i = 0; i < acc.pointTs.length; i++)
      this.points.append(slot, acc.pointTs[i] as number, acc.pointValue[i] as number);
    const { negative, positive } = acc.sketch;
    // Negative keys ascending by magnitude sit below the positive ones.
    for (let i = 0; i < negative.size; i++)
      this.bins.append(slot, (negative.keys[i] as number) - NEGATIVE, negative.counts[i] as number);
    for (let i = 0; i < positive.size; i++)
      this.bins.append(slot, positive.keys[i] as number, positive.counts[i] as number);
    for (let i = 0; i < EXT_SLOTS; i++) stats[row + EXT + i] = acc.ext[i] ?? NaN;
    return slot;
  }

  /**
   * The sketch of a window into an empty `sketch`: bins, zeros and the statistics a sketch keeps
   * (its count is the window's; its sum starts at +0, the window's at -0: they differ only there).
   */
  /** Writes the window's sketch into `sketch`, over what it held (its bins' arrays reused). */
  private fillSketch(slot: number, sketch: QuantileSketch): void {
    const pairs = this.bins.pairs;
    const at = this.bins.startOf(slot);
    const end = at + this.bins.lengthOf(slot);
    // Keys ascend: the negative values' (shifted below every positive one) come first.
    let split = at;
    while (split < end && (pairs[2 * split] as number) < -NEGATIVE / 2) split++;
    if (split > at || sketch.negative.size > 0) fillBins(sketch.negativeBins(), pairs, at, split, NEGATIVE);
    fillBins(sketch.positive, pairs, split, end, 0);
    const stats = this.stats;
    const row = slot * STRIDE;
    sketch.zeroCount = stats[row + ZEROS] as number;
    sketch.count = stats[row + COUNT] as number;
    sketch.sum = (stats[row + SUM] as number) + 0;
    sketch.min = stats[row + SKETCH_MIN] as number;
    sketch.max = stats[row + SKETCH_MAX] as number;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) this.grow();
    return this.used++;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const f64 = (a: Float64Array, width = 1) => grownTo(a, capacity * width);
    const i32 = (a: Int32Array) => grownTo(a, capacity);
    this.start = f64(this.start);
    this.stats = f64(this.stats, STRIDE);
    this.opened = f64(this.opened);
    this.revision = i32(this.revision);
    this.seriesOf = i32(this.seriesOf);
    this.next = i32(this.next);
    const counter = new Uint8Array(capacity);
    counter.set(this.counter);
    this.counter = counter;
    this.capacity = capacity;
  }
}

/**
 * Sorted runs of (a, b) pairs in one shared array, one run per handle (a window's slot): pair i of
 * the array at `pairs[2i]` (a) and `pairs[2i + 1]` (b), and a handle's start, length and room
 * side by side in `handles` (`HANDLE` numbers each): a run is read from one place, not from two
 * arrays of pairs and three of handles. A run grows by moving to the end with twice the room; the
 * array is compacted when more than half of it is left behind by moved and released runs.
 */
export class RunPool {
  /** Pairs (a, b), interleaved; positions (`startOf`) count pairs. */
  pairs = new Float64Array(2 * 1024);
  /** Per handle, `HANDLE` numbers from `handle * HANDLE`: where its run starts, its length, its room. */
  handles = new Int32Array(256 * HANDLE);
  private top = 0;
  private garbage = 0;

  /** Adds `weight` to the pair with a = `key`, or inserts (key, weight) in order (searched from the end). */
  addTo(handle: number, key: number, weight: number): void {
    this.ensureHandle(handle);
    const h = handle * HANDLE;
    const at = this.handles[h + AT] as number;
    const pairs = this.pairs;
    let i = at + (this.handles[h + LENGTH] as number);
    while (i > at && (pairs[2 * (i - 1)] as number) > key) i--;
    if (i > at && pairs[2 * (i - 1)] === key) {
      pairs[2 * (i - 1) + 1] = (pairs[2 * (i - 1) + 1] as number) + weight;
      return;
    }
    this.insert(handle, i - at, key, weight);
  }

  /** Inserts (a, b) after every pair whose a is at or below `a` (searched from the end). */
  insertAfter(handle: number, a: number, b: number): void {
    this.ensureHandle(handle);
    const h = handle * HANDLE;
    const at = this.handles[h + AT] as number;
    let i = at + (this.handles[h + LENGTH] as number);
    while (i > at && (this.pairs[2 * (i - 1)] as number) > a) i--;
    this.insert(handle, i - at, a, b);
  }

  /** Appends (a, b), which the caller knows to be in order. */
  append(handle: number, a: number, b: number): void {
    this.ensureHandle(handle);
    this.insert(handle, this.handles[handle * HANDLE + LENGTH] as number, a, b);
  }

  /** Where a handle's run starts, in pairs (0 for a handle never written: its run is empty). */
  startOf(handle: number): number {
    return handle * HANDLE < this.handles.length ? (this.handles[handle * HANDLE + AT] as number) : 0;
  }

  /** A handle's run length (0 for a handle never written). */
  lengthOf(handle: number): number {
    return handle * HANDLE < this.handles.length ? (this.handles[handle * HANDLE + LENGTH] as number) : 0;
  }

  /** The a of pair `i` (a position from `startOf`). */
  a(i: number): number {
    return this.pairs[2 * i] as number;
  }

  /** The b of pair `i`. */
  b(i: number): number {
    return this.pairs[2 * i + 1] as number;
  }

  /** Empties a handle's run. */
  release(handle: number): void {
    const h = handle * HANDLE;
    if (h >= this.handles.length) return;
    this.garbage += this.handles[h + ROOM] as number;
    this.handles[h + AT] = 0;
    this.handles[h + LENGTH] = 0;
    this.handles[h + ROOM] = 0;
  }

  /** Pairs held, and the room of the array in pairs. */
  get stats(): { pairs: number; capacity: number } {
    let pairs = 0;
    for (let h = 0; h < this.handles.length; h += HANDLE) pairs += this.handles[h + LENGTH] as number;
    return { pairs, capacity: this.pairs.length / 2 };
  }

  /** Inserts at index `index` of the run. */
  private insert(handle: number, index: number, a: number, b: number): void {
    const h = handle * HANDLE;
    const n = this.handles[h + LENGTH] as number;
    if (n === this.handles[h + ROOM]) this.move(handle, n === 0 ? 4 : n * 2);
    const at = this.handles[h + AT] as number;
    if (index < n) this.pairs.copyWithin(2 * (at + index + 1), 2 * (at + index), 2 * (at + n));
    this.pairs[2 * (at + index)] = a;
    this.pairs[2 * (at + index) + 1] = b;
    this.handles[h + LENGTH] = n + 1;
  }

  /** Moves a run to the end with room for `room` pairs. */
  private move(handle: number, room: number): void {
    if (this.top + room > this.pairs.length / 2) this.makeRoom(room);
    const h = handle * HANDLE;
    const at = this.handles[h + AT] as number;
    const n = this.handles[h + LENGTH] as number;
    this.pairs.copyWithin(2 * this.top, 2 * at, 2 * (at + n));
    this.garbage += this.handles[h + ROOM] as number;
    this.handles[h + AT] = this.top;
    this.handles[h + ROOM] = room;
    this.top += room;
  }

  /** Compacts the runs, or grows the array, so that `room` more pairs fit at the end. */
  private makeRoom(room: number): void {
    const capacity = this.pairs.length / 2;
    const kept = this.top - this.garbage;
    const size = Math.max(1024, (kept + room) * 2, this.garbage > kept ? capacity : capacity * 2);
    const pairs = new Float64Array(2 * size);
    const old = this.pairs;
    const handles = this.handles;
    let top = 0;
    for (let h = 0; h < handles.length; h += HANDLE) {
      const r = handles[h + ROOM] as number;
      if (r === 0) continue;
      const from = 2 * (handles[h + AT] as number);
      const n = 2 * (handles[h + LENGTH] as number);
      // A loop, not `set(subarray(…))`: a run holds a few values, and a view per run made a
      // compaction of 200,000 runs allocate 200,000 objects.
      for (let i = 0; i < n; i++) pairs[2 * top + i] = old[from + i] as number;
      handles[h + AT] = top;
      top += r;
    }
    this.pairs = pairs;
    this.top = top;
    this.garbage = 0;
  }

  private ensureHandle(handle: number): void {
    if (handle * HANDLE < this.handles.length) return;
    let size = this.handles.length;
    while (size <= handle * HANDLE) size *= 2;
    this.handles = grownTo(this.handles, size);
  }
}

/** A handle's numbers in `RunPool.handles`: its run's start and length, and its room (all in pairs). */
const AT = 0;
const LENGTH = 1;
const ROOM = 2;
const HANDLE = 4;

/** Sets `bins` to the pool's pairs [from, to) (keys shifted by `shift`, counts), over what it held. */
function fillBins(bins: Bins, pairs: Float64Array, from: number, to: number, shift: number): void {
  const n = to - from;
  let total = 0;
  for (let i = 0; i < n; i++) {
    bins.keys[i] = (pairs[2 * (from + i)] as number) + shift;
    const count = pairs[2 * (from + i) + 1] as number;
    bins.counts[i] = count;
    total += count;
  }
  if (bins.keys.length !== n) {
    bins.keys.length = n;
    bins.counts.length = n;
  }
  bins.total = total;
}

/** Copied for each result's `ext`: an array of doubles (as `EXT_ZERO` in core/aggregate.ts) of the right length. */
const EXT_TEMPLATE: number[] = Array.from({ length: EXT_SLOTS }, () => 0.5).fill(0);

/** Shift of a negative value's key: below every positive value's key (keys stay within ±2^16). */
const NEGATIVE = 2 ** 20;
