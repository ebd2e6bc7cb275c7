import type { SampleKind } from '../schemas/index.js';
import type { Aggregator } from './aggregator.js';
import { EXT_SLOTS, STATEFUL } from './aggregates.js';
import type { SampleRow, SampleRun } from './records.js';
import { QuantileSketch } from './sketch.js';

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
  /**
   * The starts of the slots not folded yet, ascending, and in `slots` the latest Aggregate of
   * each, packed (`packAggregate`): a corrected slot result replaces the old one. Two arrays
   * rather than a Map: a window start is no small integer (a Map boxes and hashes it), and the
   * slots that become final are always the first ones.
   */
  starts: number[];
  slots: PackedAggregate[];
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
  /** The slot's aggregate, or (given instead) `packed`. */
  aggregate?: Aggregate;
  /** The aggregate packed already (`packAggregate`): taken as the slot's instead of packing `aggregate`. */
  packed?: PackedAggregate;
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

export type ExtAdd = (ext: number[], at: number, value: number) => void;
type ExtMerge = (into: number[], from: readonly number[], at: number) => void;

/** The registry's stateful aggregates flattened to arrays once: the per-sample loop reads no objects. */
// Filled with a fraction, then zeroed: the array (and every slice of it) keeps V8's double
// elements, so the first fractional value stored per window does not reallocate its storage.
const EXT_ZERO: number[] = Array.from({ length: EXT_SLOTS }, () => 0.5).fill(0);
export const ADDS: ExtAdd[] = STATEFUL.flatMap(({ def }) => (def.add ? [def.add] : []));
export const ADD_AT: number[] = STATEFUL.flatMap(({ def, at }) => (def.add ? [at] : []));
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
    create: emptyRollup,
    add(acc, { start, aggregate, packed }) {
      if (acc.folded && start <= acc.folded.upTo) return acc;
      if (packed === undefined && aggregate === undefined)
        throw new Error(`the slot at ${start} has no aggregate`);
      setSlot(acc, start, packed ?? packAggregate(aggregate as Aggregate));
      // The slots at least `correctableMs` behind the newest are final: the first ones.
      const { starts, slots } = acc;
      const limit = (starts[starts.length - 1] as number) - correctableMs;
      let n = 0;
      while (n < starts.length && (starts[n] as number) <= limit) n++;
      if (n === 0) return acc;
      const upTo = starts[n - 1] as number;
      if (acc.folded) {
        // The folded aggregate belongs to this accumulator alone: the slots are added to it in
        // place, as merging it and them into a new aggregate would (it counts as the slot before).
        appendPacked(acc.folded.aggregate, slots, n, acc.folded.aggregate);
        acc.folded.upTo = upTo;
      } else {
        const folded = emptyAggregate();
        appendPacked(folded, slots, n, undefined);
        acc.folded = { from: starts[0] as number, upTo, aggregate: folded };
      }
      starts.splice(0, n);
      slots.splice(0, n);
      return acc;
    },
  };
}

/** A rollup accumulator with no slot. */
export function emptyRollup(): RollupAcc {
  return { type: 'rollup', starts: [], slots: [] };
}

/**
 * Puts slot `start` in its place among the accumulator's slots (they mostly come in time order:
 * the place is found from the end), replacing the slot of the same start if there is one.
 */
export function setSlot(acc: RollupAcc, start: number, packed: PackedAggregate): void {
  const { starts, slots } = acc;
  let at = starts.length;
  while (at > 0 && (starts[at - 1] as number) > start) at--;
  if (at > 0 && starts[at - 1] === start) slots[at - 1] = packed;
  else if (at === starts.length) {
    starts.push(start);
    slots.push(packed);
  } else {
    starts.splice(at, 0, start);
    slots.splice(at, 0, packed);
  }
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
  const folded = acc.folded?.aggregate;
  if (folded) appendSlots(out, [folded], undefined);
  appendPacked(out, acc.slots, acc.slots.length, folded);
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

/**
 * An Aggregate as one array of numbers: what a rollup window keeps of each slot while the tier
 * below can still correct it. An Aggregate is some twenty objects (its numbers, sketch, bins and
 * their arrays), which live a few minutes of event time: long enough for the garbage collector
 * to move and mark them, where one array is one object.
 *
 * Layout: count sum min max first firstTs last lastTs increase kind(1: counter), the EXT_SLOTS
 * ext slots, the sketch's zeroCount count sum min max, its positive bins (n, n keys, n counts),
 * its negative bins (same).
 */
export type PackedAggregate = readonly number[] & { readonly packed: unique symbol };

/** Where a packed aggregate's ext slots start (its statistics come first). */
export const PACKED_STATS = 10;
const STATS = PACKED_STATS;

export function packAggregate(a: Aggregate): PackedAggregate {
  const { sketch, ext } = a;
  const pos = sketch.positive;
  const neg = sketch.negative;
  // A JavaScript array of doubles, not a Float64Array (a typed array of this size takes its bytes
  // from outside the heap: an allocation and a free of its own per slot), copied from one of its
  // length so that it is made once, with double elements, and filled in place.
  const length = STATS + EXT_SLOTS + 7 + 2 * (pos.size + neg.size);
  const out = (PACKED_TEMPLATES[length] ??= Array.from({ length }, () => 0.5)).slice();
  out[0] = a.count;
  out[1] = a.sum;
  out[2] = a.min;
  out[3] = a.max;
  out[4] = a.first;
  out[5] = a.firstTs;
  out[6] = a.last;
  out[7] = a.lastTs;
  out[8] = a.increase;
  out[9] = a.kind === 'counter' ? 1 : 0;
  let at = STATS;
  for (let i = 0; i < EXT_SLOTS; i++) out[at++] = ext[i] as number;
  out[at++] = sketch.zeroCount;
  out[at++] = sketch.count;
  out[at++] = sketch.sum;
  out[at++] = sketch.min;
  out[at++] = sketch.max;
  for (const bins of [pos, neg]) {
    const n = bins.size;
    out[at++] = n;
    for (let i = 0; i < n; i++) out[at + i] = bins.keys[i] as number;
    for (let i = 0; i < n; i++) out[at + n + i] = bins.counts[i] as number;
    at += 2 * n;
  }
  return out as unknown as PackedAggregate;
}

/** Arrays of doubles by length, copied by `packAggregate`. */
const PACKED_TEMPLATES: number[][] = [];

/** The Aggregate `packAggregate` packed (a new one, sharing nothing). */
export function unpackAggregate(p: PackedAggregate): Aggregate {
  const ext = EXT_ZERO.slice();
  let at = STATS;
  for (let i = 0; i < EXT_SLOTS; i++) ext[i] = p[at++] as number;
  const sketch = new QuantileSketch();
  sketch.zeroCount = p[at++] as number;
  sketch.count = p[at++] as number;
  sketch.sum = p[at++] as number;
  sketch.min = p[at++] as number;
  sketch.max = p[at++] as number;
  for (let sign = 0; sign < 2; sign++) {
    const n = p[at++] as number;
    if (n === 0) continue;
    const bins = sign === 0 ? sketch.positive : sketch.negativeBins();
    for (let i = 0; i < n; i++) {
      bins.keys.push(p[at + i] as number);
      bins.counts.push(p[at + n + i] as number);
      bins.total += p[at + n + i] as number;
    }
    at += 2 * n;
  }
  return {
    count: p[0] as number,
    sum: p[1] as number,
    min: p[2] as number,
    max: p[3] as number,
    first: p[4] as number,
    firstTs: p[5] as number,
    last: p[6] as number,
    lastTs: p[7] as number,
    increase: p[8] as number,
    kind: p[9] === 1 ? 'counter' : 'gauge',
    sketch,
    ext,
  };
}

/** `appendSlots` for the first `slotCount` of `slots`, packed, read from their arrays (no Aggregate made per slot). */
function appendPacked(
  out: Aggregate,
  slots: ReadonlyArray<PackedAggregate>,
  slotCount: number,
  before: Aggregate | undefined,
): void {
  let previous = before !== undefined && before.count > 0;
  let previousCounter = before?.kind === 'counter';
  let previousLast = before?.last ?? NaN;
  const ext = PACKED_EXT;
  for (let slot = 0; slot < slotCount; slot++) {
    const p = slots[slot] as PackedAggregate;
    const count = p[0] as number;
    if (count === 0) continue;
    out.count += count;
    out.sum += p[1] as number;
    out.min = Math.min(out.min, p[2] as number);
    out.max = Math.max(out.max, p[3] as number);
    if (!previous) {
      out.first = p[4] as number;
      out.firstTs = p[5] as number;
    }
    out.last = p[6] as number;
    out.lastTs = p[7] as number;
    const counter = p[9] === 1;
    if (counter) {
      out.kind = 'counter';
      out.increase += p[8] as number;
      if (previous && previousCounter) out.increase += delta(previousLast, p[4] as number);
    }
    let at = STATS;
    for (let i = 0; i < EXT_SLOTS; i++) ext[i] = p[at++] as number;
    const sketch = out.sketch;
    sketch.zeroCount += p[at++] as number;
    sketch.count += p[at++] as number;
    sketch.sum += p[at++] as number;
    const min = p[at++] as number;
    const max = p[at++] as number;
    if (min < sketch.min) sketch.min = min;
    if (max > sketch.max) sketch.max = max;
    for (let sign = 0; sign < 2; sign++) {
      const n = p[at++] as number;
      if (n > 0) {
        const bins = sign === 0 ? sketch.positive : sketch.negativeBins();
        for (let i = 0; i < n; i++) bins.add(p[at + i] as number, p[at + n + i] as number);
      }
      at += 2 * n;
    }
    for (let i = 0; i < MERGES.length; i++) (MERGES[i] as ExtMerge)(out.ext, ext, MERGE_AT[i] as number);
    previous = true;
    previousCounter = counter;
    previousLast = p[6] as number;
  }
}

/** A packed slot's ext slots, copied out for the registry's merges (which read an ext array). */
const PACKED_EXT: number[] = EXT_ZERO.slice();

/** The increase of a counter from one value to the next: a drop is a restart from 0. */
export function delta(from: number, to: number): number {
  return to >= from ? to - from : to;
}

export { avg, quantile, rate } from './aggregates.js';
