import { mergeMap, Subject, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  finalize,
  packAggregate,
  quantile,
  sampleRunAggregator,
  type Aggregate,
  type SampleAcc,
  unpackAggregate,
} from '../../core/aggregate.js';
import type { SampleRun } from '../../core/records.js';
import { SampleColumnsBuilder, type BatchSeries, type SampleColumns } from '../../core/sampleColumns.js';
import { RunPool } from '../../core/sampleTable.js';
import type { Bins, QuantileSketch } from '../../core/sketch.js';
import type { StreamEvent } from '../../core/stream.js';
import { sampleWindow, SampleWindowStore } from '../../operators/sampleWindow.js';
import { prng } from '../../producer/synthetic.js';
import {
  MemoryWindowStore,
  tumblingWindow,
  type Runs,
  type WindowOutput,
} from '../../operators/tumblingWindow.js';
import { WindowChangelogStore, type ChangelogEntry } from '../../streams/stateStore.js';
import type { WindowState, WindowStore } from '../../streams/windowStore.js';
import { sampleWindowsCodec } from '../../topology/storeCodecs.js';

/**
 * `sampleWindow` with its `SampleWindowStore` (flat arrays) against the first tier it replaced:
 * `tumblingWindow` over runs with an object store and `sampleRunAggregator`, wired as
 * topology/windowStage.ts wired it before. Both take the same random events (seeded: a failure
 * names its seed) and must give the same results (every field of the `Aggregate`, quantiles
 * included, compared with `Object.is`), late records and watermarks, in the same order; their
 * changelogs must say the same and restore into each other. Last, `RunPool` against plain arrays.
 */

// ---------------------------------------------------------------------------------------------
// Randomness

class Random {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = prng(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** A whole number in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

// ---------------------------------------------------------------------------------------------
// Random input

/** Window settings and options of one run. */
interface Shape {
  sizeMs: number;
  graceMs: number;
  allowedLatenessMs: number;
  /** With a horizon: the partition's largest event time so far minus this (as windowStage's). */
  horizonBound: number | undefined;
  /** With the `partitions` option (every partition of the run). */
  withPartitions: boolean;
  partitions: number;
}

/**
 * Values a window must keep exactly: both zeros, repeats, negatives, the largest and smallest
 * finite ones (sums overflow to ±Infinity, the stddev state in `ext` to NaN), values the sketch
 * counts as zero (subnormals below its `MIN_POSSIBLE`) and ones just above it. No NaN or
 * ±Infinity: core/validate.ts refuses values that are not finite, so none reaches the windows.
 */
const VALUES = [
  0,
  -0,
  0,
  -0,
  1,
  -1,
  0.995,
  -0.995,
  42,
  42,
  -3.25,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  5e-324,
  -5e-324,
  1e-310,
  2.2250738585072014e-308,
  -2.2250738585072014e-308,
  123456789.125,
  2 ** 53,
  1e15 + 0.3,
];

/** A series of the run: its key and how its values go. */
interface SeriesPlan {
  key: string;
  described: BatchSeries;
  kind: 'gauge' | 'counter' | 'mixed';
  last: number;
}

/** Generates the events of a run: data events of runs (1–20 samples of one series) and watermarks. */
class EventSource {
  private clock: number;
  private watermark = Number.NEGATIVE_INFINITY;
  private readonly offsets: number[];
  private readonly series: SeriesPlan[];

  constructor(
    private readonly rand: Random,
    private readonly shape: Shape,
  ) {
    this.clock = rand.int(-20, 20);
    this.offsets = Array.from({ length: shape.partitions }, () => rand.int(0, 100));
    this.series = Array.from({ length: rand.int(1, 4) }, (_, i) => {
      const key = String(1000 + i);
      return {
        key,
        described: seriesOf(key),
        kind: rand.pick(['gauge', 'gauge', 'counter', 'counter', 'mixed'] as const),
        last: 0,
      };
    });
  }

  /** `n` steps of input: batches of records, and watermarks (now and then going back, as after a rewind). */
  events(n: number): Array<StreamEvent<SampleRun>> {
    const out: Array<StreamEvent<SampleRun>> = [];
    for (let step = 0; step < n; step++) {
      if (this.rand.chance(0.25)) out.push({ kind: 'watermark', watermark: this.nextWatermark() });
      else out.push(...this.batch());
    }
    return out;
  }

  private nextWatermark(): number {
    const rand = this.rand;
    const { sizeMs, graceMs } = this.shape;
    if (rand.chance(0.15) && Number.isFinite(this.watermark))
      this.watermark -= rand.int(0, 2 * sizeMs + graceMs);
    else if (rand.chance(0.1))
      this.watermark = this.watermark + 0; // the same again: ignored by both
    else this.watermark = this.clock - rand.int(0, 3 * sizeMs);
    return this.watermark;
  }

  /** One batch of one partition: 1–3 records, each 1–2 runs of one series, as one `SampleColumns`. */
  private batch(): Array<StreamEvent<SampleRun>> {
    const rand = this.rand;
    const partition = rand.int(0, this.shape.partitions - 1);
    const builder = new SampleColumnsBuilder(rand.int(1, 8));
    // Decoding describes a batch's series afresh; sometimes the objects of an earlier batch are kept.
    const fresh = rand.chance(0.5);
    const runs: Array<{ offset: number; from: number; to: number }> = [];
    let at = 0;
    for (let records = rand.int(1, 3); records > 0; records--) {
      const offset = this.offsets[partition] as number;
      this.offsets[partition] = offset + 1;
      for (let parts = rand.int(1, 2); parts > 0; parts--) {
        const plan = rand.pick(this.series);
        const described = fresh ? seriesOf(plan.key) : plan.described;
        const size = rand.int(1, 20);
        for (let i = 0; i < size; i++) {
          const counter = plan.kind === 'counter' || (plan.kind === 'mixed' && rand.chance(0.5));
          builder.push(described, this.timestamp(), this.value(plan, counter), counter, offset);
        }
        runs.push({ offset, from: at, to: at + size });
        at += size;
      }
    }
    const columns = builder.finish();
    // Half the time the batch goes as one run of its records and series (as the task forwards
    // samples that raise no channel's event time), which `sampleWindow` cuts by series itself.
    if (rand.chance(0.5))
      return [
        {
          kind: 'data',
          partition,
          offset: runs[0]?.offset as number,
          timestamp: Math.max(...columns.ts),
          value: { columns, from: 0, to: at },
        },
      ];
    return runs.map(({ offset, from, to }) => ({
      kind: 'data',
      partition,
      offset,
      timestamp: Math.max(...columns.ts.subarray(from, to)),
      value: { columns, from, to },
    }));
  }

  /** Out of order around a clock that moves on: some samples are late, some very late. */
  private timestamp(): number {
    const rand = this.rand;
    const { sizeMs, graceMs, allowedLatenessMs } = this.shape;
    this.clock += rand.int(0, 2);
    const spread = rand.chance(0.1) ? 2 * (sizeMs + graceMs + allowedLatenessMs) : sizeMs + 2;
    return this.clock - rand.int(0, spread);
  }

  private value(plan: SeriesPlan, counter: boolean): number {
    const rand = this.rand;
    let v: number;
    if (rand.chance(0.15)) v = plan.last;
    else if (counter && rand.chance(0.7))
      v = rand.chance(0.1) ? rand.int(0, 3) : plan.last + rand.pick([0, 1, 2, 0.5, 1000]);
    else if (rand.chance(0.6)) v = rand.pick(VALUES);
    else v = (rand.float() - 0.5) * 10 ** rand.int(-3, 6);
    plan.last = v;
    return v;
  }
}

/** A series as a batch describes it. */
function seriesOf(key: string): BatchSeries {
  return { id: BigInt(key), key, name: 'm', labels: [['host', key]] };
}

function randomShape(rand: Random): Shape {
  return {
    sizeMs: rand.pick([1, 2, 5, 10, 10, 30]),
    graceMs: rand.pick([0, 0, 1, 3, 10]),
    allowedLatenessMs: rand.pick([0, 0, 2, 5, 20]),
    horizonBound: rand.chance(0.5) ? rand.int(0, 15) : undefined,
    withPartitions: rand.chance(0.5),
    partitions: rand.int(1, 3),
  };
}

// ---------------------------------------------------------------------------------------------
// The two operators

/** How the first tier read a run before `sampleWindow` (HEAD~1 topology/windowStage.ts). */
const sampleRuns: Runs<SampleRun> = {
  size: (run) => run.to - run.from,
  timestamp: (run, i) => run.columns.ts[run.from + i] as number,
  offset: (run, i) => run.columns.offset[run.from + i] as number,
  slice: (run, from, to) => ({ columns: run.columns, from: run.from + from, to: run.from + to }),
};

/** The key of a run's series (HEAD~1 topology/windowStage.ts). */
const runKey = ({ columns, from }: SampleRun): string =>
  (columns.series[columns.seriesIndex[from] as number] as BatchSeries).key;

/** A data event's run cut where its series changes. */
function seriesRuns(event: Extract<StreamEvent<SampleRun>, { kind: 'data' }>): Array<StreamEvent<SampleRun>> {
  const { columns, from, to } = event.value;
  const out: Array<StreamEvent<SampleRun>> = [];
  for (let at = from; at < to;) {
    let end = at + 1;
    while (end < to && columns.seriesIndex[end] === columns.seriesIndex[at]) end++;
    out.push({ ...event, value: { columns, from: at, to: end } });
    at = end;
  }
  return out;
}

/** An output of either operator, as compared: a result's aggregate as of its emission. */
type Output =
  | (Omit<Extract<WindowOutput<unknown, Aggregate>, { kind: 'result' }>, 'acc' | 'series'> & {
      aggregate: Aggregate;
    })
  | {
      kind: 'late';
      partition: number;
      offset: number;
      timestamp: number;
      reason: string;
      columns: SampleColumns;
      from: number;
      to: number;
    }
  | { kind: 'watermark'; watermark: number };

/**
 * A partition's stream time (its largest event time so far), for the horizon both operators ask:
 * it counts a run's largest time from the run's start (the topology makes a sample that raises it
 * a run of its own; either way both operators see the same horizon).
 */
class StreamTimes {
  private readonly times = new Map<number, number>();

  observe(event: StreamEvent<SampleRun>): void {
    if (event.kind !== 'data') return;
    const p = event.partition;
    this.times.set(p, Math.max(this.times.get(p) ?? Number.NEGATIVE_INFINITY, event.timestamp));
  }

  horizon(shape: Shape): ((partition: number) => number) | undefined {
    const bound = shape.horizonBound;
    if (bound === undefined) return undefined;
    return (partition) => (this.times.get(partition) ?? Number.NEGATIVE_INFINITY) - bound;
  }
}

/** One operator under test: events in, outputs collected. */
interface Side {
  push(event: StreamEvent<SampleRun>): void;
  readonly outputs: Output[];
}

/** Subscribes to an operator's output: results normalized by `aggregateOf`, errors thrown at the next push. */
function side<A>(
  input: Subject<StreamEvent<SampleRun>>,
  output: Observable<WindowOutput<SampleRun, A>>,
  aggregateOf: (acc: A) => Aggregate,
): Side {
  const outputs: Output[] = [];
  let failure: unknown;
  output.subscribe({
    next: (out) => {
      if (out.kind === 'result') {
        const { partition, key, start, end, revision } = out;
        // The old operator's acc is its live state: finalized now, as windowStage did.
        outputs.push({
          kind: 'result',
          partition,
          key,
          start,
          end,
          revision,
          aggregate: aggregateOf(out.acc),
        });
      } else if (out.kind === 'late') {
        const { partition, offset, timestamp, reason, value } = out;
        outputs.push({ kind: 'late', partition, offset, timestamp, reason, ...value });
      } else outputs.push({ kind: 'watermark', watermark: out.watermark });
    },
    error: (error: unknown) => (failure = error),
  });
  return {
    outputs,
    push(event) {
      input.next(event);
      if (failure !== undefined) throw failure;
    },
  };
}

/** `tumblingWindow` as the first tier was before: runs, `runKey`, `sampleRunAggregator`. */
function oldSide(
  shape: Shape,
  store: (partition: number) => WindowStore<SampleAcc>,
  horizon: ((partition: number) => number) | undefined,
): Side {
  const input = new Subject<StreamEvent<SampleRun>>();
  const { sizeMs, graceMs, allowedLatenessMs } = shape;
  const output = input.pipe(
    // Its runs were of one series: a run of several is cut into those, each as the whole run's event.
    mergeMap((event) => (event.kind === 'data' ? seriesRuns(event) : [event])),
    tumblingWindow<SampleRun, SampleAcc>({
      sizeMs,
      graceMs,
      allowedLatenessMs,
      key: runKey,
      aggregator: sampleRunAggregator,
      runs: sampleRuns,
      store,
      ...(horizon ? { horizon } : {}),
      ...(shape.withPartitions ? { partitions: () => partitionsOf(shape) } : {}),
    }),
  );
  return side(input, output, finalize);
}

/** `sampleWindow` with `SampleWindowStore`s. */
function newSide(
  shape: Shape,
  store: (partition: number) => SampleWindowStore,
  horizon: ((partition: number) => number) | undefined,
): Side {
  const input = new Subject<StreamEvent<SampleRun>>();
  const { sizeMs, graceMs, allowedLatenessMs } = shape;
  const output = input.pipe(
    sampleWindow({
      sizeMs,
      graceMs,
      allowedLatenessMs,
      store,
      ...(horizon ? { horizon } : {}),
      ...(shape.withPartitions ? { partitions: () => partitionsOf(shape) } : {}),
    }),
  );
  // Every result carries the same Aggregate, written over for the next: copied as it comes.
  return side(input, output, (aggregate) => unpackAggregate(packAggregate(aggregate)));
}

function partitionsOf(shape: Shape): number[] {
  return Array.from({ length: shape.partitions }, (_, p) => p);
}

/** A store per partition, made when first asked for. */
function storesOf<S>(make: () => S): { get: (partition: number) => S; all: Map<number, S> } {
  const all = new Map<number, S>();
  return {
    all,
    get(partition) {
      let store = all.get(partition);
      if (store === undefined) all.set(partition, (store = make()));
      return store;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison: the first difference, described, or undefined

/** A number as it differs: -0 and NaN spelled out. */
function show(v: unknown): string {
  return typeof v === 'number' && Object.is(v, -0)
    ? '-0'
    : typeof v === 'string'
      ? JSON.stringify(v)
      : String(v);
}

/** `what.name` if `a` (old) and `b` (new) are not the same value (`Object.is`: -0 is not 0, NaN is NaN). */
function differ(what: string, name: string, a: unknown, b: unknown): string | undefined {
  return Object.is(a, b) ? undefined : `${what}.${name}: ${show(a)} (old) vs ${show(b)} (new)`;
}

function arrayDifference(
  what: string,
  name: string,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  same: (x: number, y: number) => boolean = Object.is,
): string | undefined {
  if (a.length !== b.length) return differ(what, `${name}.length`, a.length, b.length);
  for (let i = 0; i < a.length; i++)
    if (!same(a[i] as number, b[i] as number)) return differ(what, `${name}[${i}]`, a[i], b[i]);
  return undefined;
}

/** Numerically equal: see `binsDifference`. */
const equal = (x: number, y: number) => x === y;

/**
 * Bin keys compare by value: a bin's key -0 (values in (1/γ, 1) have key -0, `Math.ceil` of a
 * small negative number) reads as 0 wherever a key is used (`valueOf`, the changelog's zig-zag
 * deltas, `toProto`), and the pool keeps negative values' keys shifted, which turns -0 into 0.
 */
function binsDifference(what: string, a: Bins, b: Bins): string | undefined {
  return (
    arrayDifference(what, 'keys', a.keys, b.keys, equal) ??
    arrayDifference(what, 'counts', a.counts, b.counts) ??
    differ(what, 'total', a.total, b.total)
  );
}

/** Every statistic and bin of the sketch. */
function sketchDifference(what: string, a: QuantileSketch, b: QuantileSketch): string | undefined {
  return (
    differ(what, 'count', a.count, b.count) ??
    differ(what, 'sum', a.sum, b.sum) ??
    differ(what, 'min', a.min, b.min) ??
    differ(what, 'max', a.max, b.max) ??
    differ(what, 'zeroCount', a.zeroCount, b.zeroCount) ??
    binsDifference(`${what}.positive`, a.positive, b.positive) ??
    binsDifference(`${what}.negative`, a.negative, b.negative)
  );
}

/** What `Aggregate` and `SampleAcc` share. */
const STATS = ['kind', 'count', 'sum', 'min', 'max', 'first', 'firstTs', 'last', 'lastTs'] as const;
const QUANTILES = [0, 0.1, 0.5, 0.9, 0.99, 1];

function statsDifference(
  what: string,
  a: Aggregate | SampleAcc,
  b: Aggregate | SampleAcc,
): string | undefined {
  for (const name of STATS) {
    const found = differ(what, name, a[name], b[name]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A result's aggregate: every field, the quantiles the tiers write, the sketch itself. */
function aggregateDifference(what: string, a: Aggregate, b: Aggregate): string | undefined {
  const found =
    statsDifference(what, a, b) ??
    differ(what, 'increase', a.increase, b.increase) ??
    arrayDifference(what, 'ext', a.ext, b.ext);
  if (found !== undefined) return found;
  for (const q of QUANTILES) {
    const found = differ(what, `quantile ${q}`, quantile(a, q), quantile(b, q));
    if (found !== undefined) return found;
  }
  return sketchDifference(`${what}.sketch`, a.sketch, b.sketch);
}

/** A window's accumulator as a store holds it (or its changelog says). */
function accDifference(what: string, a: SampleAcc, b: SampleAcc): string | undefined {
  return (
    differ(what, 'type', a.type, b.type) ??
    statsDifference(what, a, b) ??
    arrayDifference(what, 'pointTs', a.pointTs, b.pointTs) ??
    arrayDifference(what, 'pointValue', a.pointValue, b.pointValue) ??
    arrayDifference(what, 'ext', a.ext, b.ext) ??
    sketchDifference(`${what}.sketch`, a.sketch, b.sketch)
  );
}

function outputDifference(what: string, a: Output, b: Output): string | undefined {
  if (a.kind === 'watermark' && b.kind === 'watermark')
    return differ(what, 'watermark', a.watermark, b.watermark);
  if (a.kind === 'late' && b.kind === 'late')
    return (
      differ(what, 'partition', a.partition, b.partition) ??
      differ(what, 'offset', a.offset, b.offset) ??
      differ(what, 'timestamp', a.timestamp, b.timestamp) ??
      differ(what, 'reason', a.reason, b.reason) ??
      differ(what, 'from', a.from, b.from) ??
      differ(what, 'to', a.to, b.to) ??
      (a.columns === b.columns ? undefined : `${what}.columns: not the same batch`)
    );
  if (a.kind === 'result' && b.kind === 'result')
    return (
      differ(what, 'partition', a.partition, b.partition) ??
      differ(what, 'key', a.key, b.key) ??
      differ(what, 'start', a.start, b.start) ??
      differ(what, 'end', a.end, b.end) ??
      differ(what, 'revision', a.revision, b.revision) ??
      aggregateDifference(`${what}.acc`, a.aggregate, b.aggregate)
    );
  return differ(what, 'kind', a.kind, b.kind);
}

/** The first difference of two output sequences, with both outputs around it. */
function outputsDifference(a: Output[], b: Output[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    const found =
      x === undefined || y === undefined
        ? `output ${i}: ${x === undefined ? 'none' : x.kind} (old) vs ${y === undefined ? 'none' : y.kind} (new)`
        : outputDifference(`output ${i}`, x, y);
    if (found !== undefined) return `${found}\n  old: ${brief(x)}\n  new: ${brief(y)}`;
  }
  return undefined;
}

function brief(out: Output | undefined): string {
  if (out === undefined) return 'none';
  if (out.kind === 'result') {
    const { partition, key, start, revision } = out;
    return `result p${partition} ${key}@${start} rev ${revision}`;
  }
  if (out.kind === 'late') return `late p${out.partition} offset ${out.offset} at ${show(out.timestamp)}`;
  return `watermark ${show(out.watermark)}`;
}

/** The windows of a store by `key@start`: revision and accumulator. */
function windowsOf(entries: Iterable<[string, WindowState<SampleAcc>]>): Map<string, WindowState<SampleAcc>> {
  return new Map(entries);
}

function windowsDifference(
  what: string,
  a: Map<string, WindowState<SampleAcc>>,
  b: Map<string, WindowState<SampleAcc>>,
): string | undefined {
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const id of ids) {
    const x = a.get(id);
    const y = b.get(id);
    if (x === undefined || y === undefined)
      return `${what} ${id}: ${x ? 'held' : 'missing'} (old) vs ${y ? 'held' : 'missing'} (new)`;
    const at = `${what} ${id}`;
    const found =
      differ(at, 'key', x.key, y.key) ??
      differ(at, 'start', x.start, y.start) ??
      differ(at, 'revision', x.revision, y.revision) ??
      accDifference(`${at}.acc`, x.acc, y.acc);
    if (found !== undefined) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 1. Random differential runs

/** Runs one seed through both operators; the first difference, if any. */
function differentialRun(seed: number): string | undefined {
  const rand = new Random(seed);
  const shape = randomShape(rand);
  const events = new EventSource(rand, shape).events(rand.int(10, 40));
  events.push({ kind: 'watermark', watermark: Number.MAX_SAFE_INTEGER });
  const found = runBoth(shape, events);
  return found === undefined
    ? undefined
    : `seed ${seed}, ${JSON.stringify(shape)}, ${events.length} events\n${found}`;
}

/** Events through both operators (Map stores on the old side): the first difference of their outputs or of the windows left. */
function runBoth(shape: Shape, events: Array<StreamEvent<SampleRun>>): string | undefined {
  const times = new StreamTimes();
  const oldStores = storesOf(() => new MemoryWindowStore<SampleAcc>());
  const newStores = storesOf(() => new SampleWindowStore('w', sampleWindowsCodec));
  const older = oldSide(shape, oldStores.get, times.horizon(shape));
  const newer = newSide(shape, newStores.get, times.horizon(shape));
  for (const event of events) {
    times.observe(event);
    older.push(event);
    newer.push(event);
  }
  return (
    outputsDifference(older.outputs, newer.outputs) ?? storesDifference(shape, oldStores.all, newStores.all)
  );
}

/** The windows left in each partition's store, and how far each is purged. */
function storesDifference(
  shape: Shape,
  a: Map<number, WindowStore<SampleAcc>>,
  b: Map<number, SampleWindowStore>,
): string | undefined {
  for (const p of partitionsOf(shape)) {
    const x = a.get(p);
    const y = b.get(p);
    if (x === undefined || y === undefined) {
      if (x !== y) return `store of partition ${p}: asked for by one operator only`;
      continue;
    }
    const found =
      differ(`partition ${p}`, 'purgedThrough', x.purgedThrough(), y.purgedThrough()) ??
      windowsDifference(`partition ${p} window`, windowsOf(x.entries()), windowsOf(y.entries()));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A data event: one record of partition `partition` with gauge samples `[time, value]` of series `key`, one run. */
function record(
  partition: number,
  offset: number,
  key: string,
  samples: Array<[number, number]>,
): StreamEvent<SampleRun> {
  const builder = new SampleColumnsBuilder();
  const series = seriesOf(key);
  for (const [ts, value] of samples) builder.push(series, ts, value, false, offset);
  const columns = builder.finish();
  const timestamp = Math.max(...samples.map(([ts]) => ts));
  return { kind: 'data', partition, offset, timestamp, value: { columns, from: 0, to: columns.length } };
}

const watermark = (at: number): StreamEvent<SampleRun> => ({ kind: 'watermark', watermark: at });
const END = watermark(Number.MAX_SAFE_INTEGER);

describe('sampleWindow against tumblingWindow', () => {
  /** Same results, late records and watermarks, in the same order, and the same windows left, for 200 seeds. */
  it('gives the same outputs as the object-store first tier for random input', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const found = differentialRun(seed);
      expect(found, found).toBeUndefined();
    }
  });

  // The smallest inputs on which the random runs found the two apart.

  const shape: Shape = {
    sizeMs: 10,
    graceMs: 0,
    allowedLatenessMs: 0,
    horizonBound: undefined,
    withPartitions: false,
    partitions: 1,
  };

  /**
   * A result's sketch keeps the min and max `QuantileSketch.accept` gives it: of 0 and -0, the one
   * that came first (`<` and `>` find them equal), where `Math.min`/`Math.max` of the window pick
   * -0 and 0. Quantiles do not read them, but the Aggregate's sketch and the changelog (whose
   * sketch flags compare them with the window's min and max) do.
   */
  it("gives a window's sketch the min and max of its samples as they came, with 0 and -0", () => {
    const min = runBoth(shape, [
      record(0, 0, '1', [
        [0, 0],
        [1, -0],
      ]),
      END,
    ]);
    expect(min, min).toBeUndefined();
    const max = runBoth(shape, [
      record(0, 0, '1', [
        [0, -0],
        [1, 0],
      ]),
      END,
    ]);
    expect(max, max).toBeUndefined();
  });

  /**
   * Windows of one start that close on one watermark come out in the order the old store held
   * them, the order they were opened, also when a purged window's slot was taken again (here by
   * the series' second window, opened after the other series').
   */
  it('emits windows closing together in the order they were opened, after a purge', () => {
    const found = runBoth(shape, [
      record(0, 0, '1', [[0, 1]]),
      record(0, 1, '2', [[10, 1]]),
      watermark(10),
      record(0, 2, '1', [[10, 1]]),
      END,
    ]);
    expect(found, found).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Changelogs

/** The changes of one flush by record key (keys of different records commute in a restore). */
function byKey(entries: ChangelogEntry[]): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>();
  for (const { key, value } of entries) {
    if (out.has(key)) throw new Error(`${key} twice in one flush`);
    out.set(key, value);
  }
  return out;
}

/** A flush's records by key. */
function inKeyOrder(entries: ChangelogEntry[]): ChangelogEntry[] {
  return [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The first difference of two flushes: the same records, decoding to the same windows, in the same bytes. */
function changesDifference(what: string, a: ChangelogEntry[], b: ChangelogEntry[]): string | undefined {
  const x = byKey(a);
  const y = byKey(b);
  const keys = [...new Set([...x.keys(), ...y.keys()])].sort();
  for (const key of keys) {
    if (!x.has(key) || !y.has(key))
      return `${what} record ${key}: ${x.has(key) ? 'written' : 'none'} (old) vs ${y.has(key) ? 'written' : 'none'} (new)`;
    const u = x.get(key) ?? null;
    const v = y.get(key) ?? null;
    if (u === null || v === null) {
      if (u !== v)
        return `${what} record ${key}: ${u ? 'windows' : 'tombstone'} (old) vs ${v ? 'windows' : 'tombstone'} (new)`;
      continue;
    }
    if (key.startsWith('__')) {
      if (!u.equals(v)) return differ(what, key, u.readDoubleLE(0), v.readDoubleLE(0));
      continue;
    }
    if (u.equals(v)) continue;
    // Decoded only when the bytes differ, to say where.
    const decode = (bytes: Buffer) => {
      const states = sampleWindowsCodec.decode(key, bytes);
      return new Map(states.map((s, i) => [`${s.key}@${s.start} (#${i})`, s]));
    };
    return (
      windowsDifference(`${what} record ${key}, window`, decode(u), decode(v)) ??
      `${what} record ${key}: the same windows in other bytes`
    );
  }
  return undefined;
}

/** The changelog of a partition, as a restore reads it: every flush's records, oldest first. */
function logOf(logs: Map<number, ChangelogEntry[]>, partition: number): ChangelogEntry[] {
  let log = logs.get(partition);
  if (log === undefined) logs.set(partition, (log = []));
  return log;
}

/** The old kind of store, restored from a changelog. */
function restoreOld(log: ChangelogEntry[]): WindowChangelogStore<SampleAcc> {
  const store = new WindowChangelogStore<SampleAcc>('w', sampleWindowsCodec);
  store.restore(log);
  return store;
}

/** The new kind of store, restored from a changelog. */
function restoreNew(log: ChangelogEntry[]): SampleWindowStore {
  const store = new SampleWindowStore('w', sampleWindowsCodec);
  store.restore(log);
  return store;
}

/** Both kinds of store of one partition, restored from one changelog. */
function restored(log: ChangelogEntry[]): { old: WindowChangelogStore<SampleAcc>; new: SampleWindowStore } {
  return { old: restoreOld(log), new: restoreNew(log) };
}

/**
 * One seed: both operators with changelogged stores, flushed now and then (the flushes compared);
 * then each changelog restored into both kinds of store, and the four pairs of operator and
 * restored store run on with the same input: their outputs and last flushes must agree.
 */
function changelogRun(seed: number): string | undefined {
  const rand = new Random(seed);
  const shape = { ...randomShape(rand), withPartitions: true };
  const source = new EventSource(rand, shape);
  const events = source.events(rand.int(10, 40));
  const times = new StreamTimes();
  const oldStores = storesOf(() => new WindowChangelogStore<SampleAcc>('w', sampleWindowsCodec));
  const newStores = storesOf(() => new SampleWindowStore('w', sampleWindowsCodec));
  const older = oldSide(shape, oldStores.get, times.horizon(shape));
  const newer = newSide(shape, newStores.get, times.horizon(shape));
  const logs = { old: new Map<number, ChangelogEntry[]>(), new: new Map<number, ChangelogEntry[]>() };
  const context = `seed ${seed}, ${JSON.stringify(shape)}`;
  const flush = (at: string): string | undefined => {
    for (const p of partitionsOf(shape)) {
      const a = oldStores.all.get(p);
      const b = newStores.all.get(p);
      if (a === undefined || b === undefined) {
        if (a !== b) return `${at}: store of partition ${p} asked of one operator only`;
        continue;
      }
      const x = a.changes();
      const y = b.changes();
      // A flush's records in one order on both sides: the stores list their changed series in
      // different orders (`SampleWindowStore` purges in slot order, slots being reused), and a
      // restore opens windows in its records' order, which decides the order in which windows
      // of one start close after it. What a flush writes is compared as a set.
      logOf(logs.old, p).push(...inKeyOrder(x));
      logOf(logs.new, p).push(...inKeyOrder(y));
      const found =
        changesDifference(`${at}, partition ${p}`, x, y) ??
        differ(`${at}, partition ${p}`, 'approximateBytes', a.approximateBytes, b.approximateBytes);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const [i, event] of events.entries()) {
    times.observe(event);
    older.push(event);
    newer.push(event);
    if (rand.chance(0.1)) {
      const found = flush(`flush after event ${i}`);
      if (found !== undefined) return `${context}\n${found}`;
      // Now and then a partition moves away and back (a rebalance): its stores are restored
      // from their changelogs, and the operators, going on, meet stores they have not seen.
      const p = rand.int(0, shape.partitions - 1);
      if (rand.chance(0.3) && oldStores.all.has(p)) {
        oldStores.all.set(p, restoreOld(logOf(logs.old, p)));
        newStores.all.set(p, restoreNew(logOf(logs.new, p)));
      }
    }
  }
  const found = flush('last flush') ?? outputsDifference(older.outputs, newer.outputs);
  if (found !== undefined) return `${context}\n${found}`;

  // Restored: the old store from the new changelog and the new store from the old one, and each
  // from its own. Restored windows hold the same; the operators start over (watermark -Infinity).
  const stores = partitionsOf(shape).map((p) => ({
    fromOld: restored(logOf(logs.old, p)),
    fromNew: restored(logOf(logs.new, p)),
  }));
  const restoredOf = (p: number) => stores[p] as (typeof stores)[number];
  for (const [p, { fromOld, fromNew }] of stores.entries()) {
    const reference = windowsOf(fromOld.old.entries());
    const found =
      windowsDifference(
        `partition ${p}, from the new changelog, window`,
        reference,
        windowsOf(fromNew.old.entries()),
      ) ??
      windowsDifference(
        `partition ${p}, SampleWindowStore restored, window`,
        reference,
        windowsOf(fromOld.new.entries()),
      ) ??
      windowsDifference(`partition ${p}, both new, window`, reference, windowsOf(fromNew.new.entries())) ??
      differ(`partition ${p}`, 'purgedThrough', fromOld.old.purgedThrough(), fromOld.new.purgedThrough()) ??
      differ(`partition ${p}`, 'purgedThrough', fromNew.old.purgedThrough(), fromNew.new.purgedThrough());
    if (found !== undefined) return `${context}, restored\n${found}`;
  }
  const more = source.events(rand.int(5, 30));
  more.push({ kind: 'watermark', watermark: Number.MAX_SAFE_INTEGER });
  const horizon = times.horizon(shape);
  const reference = oldSide(shape, (p) => restoredOf(p).fromOld.old, horizon);
  const others = [
    { name: 'old operator, new changelog', side: oldSide(shape, (p) => restoredOf(p).fromNew.old, horizon) },
    { name: 'new operator, old changelog', side: newSide(shape, (p) => restoredOf(p).fromOld.new, horizon) },
    { name: 'new operator, new changelog', side: newSide(shape, (p) => restoredOf(p).fromNew.new, horizon) },
  ];
  for (const event of more) {
    times.observe(event);
    reference.push(event);
    for (const { side } of others) side.push(event);
  }
  for (const { name, side } of others) {
    const found = outputsDifference(reference.outputs, side.outputs);
    if (found !== undefined)
      return `${context}, restored: ${name} against old operator, old changelog\n${found}`;
  }
  for (const [p, { fromOld, fromNew }] of stores.entries()) {
    const found =
      changesDifference(
        `restored from the old changelog, partition ${p}`,
        fromOld.old.changes(),
        fromOld.new.changes(),
      ) ??
      changesDifference(
        `restored from the new changelog, partition ${p}`,
        fromNew.old.changes(),
        fromNew.new.changes(),
      );
    if (found !== undefined) return `${context}\n${found}`;
  }
  return undefined;
}

describe('SampleWindowStore changelog', () => {
  /**
   * Each flush writes the same records as WindowChangelogStore's, decoding to the same windows,
   * in the same bytes, compared by record key: the two list a flush's series in different orders
   * (purges mark series in slot order here, in the order their windows were opened there). Both
   * logs keep each flush's records in key order, so that either changelog restores either store
   * with its windows opened in the same order, and the operators go on alike from them. (From
   * records in another order, a restored store closes windows of one start in another order:
   * the same results, not in the same order.)
   */
  it('writes what WindowChangelogStore writes, and each restores from the other', () => {
    for (let seed = 1001; seed <= 1060; seed++) {
      const found = changelogRun(seed);
      expect(found, found).toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. RunPool

describe('RunPool', () => {
  /**
   * Many handles growing (moved to the end with more room) and released, the shared arrays
   * compacted and grown under them: every run holds, in order, what plain arrays given the same
   * operations hold. Handles are bins (`addTo`), points (`insertAfter`) or appended to (`append`),
   * by handle number. (A difference calls the plain arrays "old" and the pool "new".)
   */
  it('keeps every run intact through moves, releases and compaction', () => {
    const rand = new Random(7);
    const pool = new RunPool();
    const HANDLES = 600;
    const model: Array<Array<[number, number]>> = Array.from({ length: HANDLES }, () => []);
    let grown = 0;
    let compacted = 0;
    const check = (step: number) => {
      let pairs = 0;
      for (let h = 0; h < HANDLES; h++) {
        const run = model[h] as Array<[number, number]>;
        pairs += run.length;
        // A handle never used may lie beyond the per-handle array: its run is empty.
        const at = pool.startOf(h);
        const held = Array.from({ length: pool.lengthOf(h) }, (_, i) => at + i);
        const what = `step ${step}, handle ${h}`;
        const found =
          arrayDifference(
            what,
            'a',
            run.map(first),
            held.map((i) => pool.a(i)),
          ) ??
          arrayDifference(
            what,
            'b',
            run.map(second),
            held.map((i) => pool.b(i)),
          );
        expect(found, found).toBeUndefined();
      }
      expect(pool.stats.pairs).toBe(pairs);
    };
    for (let step = 0; step < 25_000; step++) {
      const h = rand.chance(0.7) ? rand.int(0, 99) : rand.int(0, HANDLES - 1);
      const run = model[h] as Array<[number, number]>;
      const before = pool.pairs;
      if (rand.chance(0.03)) {
        pool.release(h);
        run.length = 0;
      } else if (h % 3 === 0) {
        // A sketch bin: the weight is added to the bin of the key, or a bin is inserted in order.
        const key = rand.pick([rand.int(-40, 40), rand.int(-1_100_000, -1_000_000)]);
        const weight = rand.int(1, 3);
        pool.addTo(h, key, weight);
        const index = countWhile(run, (p) => p[0] < key);
        const bin = run[index];
        if (bin?.[0] === key) bin[1] += weight;
        else run.splice(index, 0, [key, weight]);
      } else if (h % 3 === 1) {
        // A counter's point: after every point at or before its time (arrival order among equal times).
        const time = rand.int(0, 50);
        const value = rand.pick([0, -0, 1.5, -2, rand.float()]);
        pool.insertAfter(h, time, value);
        const index = countWhile(run, (p) => p[0] <= time);
        run.splice(index, 0, [time, value]);
      } else {
        const time = (run[run.length - 1]?.[0] ?? 0) + rand.int(0, 2);
        const value = rand.float();
        pool.append(h, time, value);
        run.push([time, value]);
      }
      if (pool.pairs !== before) {
        if (pool.pairs.length > before.length) grown++;
        else compacted++;
      }
      if (step % 2000 === 0) check(step);
    }
    check(25_000);
    // The test reached both ways of making room.
    expect(grown).toBeGreaterThan(0);
    expect(compacted).toBeGreaterThan(0);
  });
});

const first = (pair: [number, number]) => pair[0];
const second = (pair: [number, number]) => pair[1];

/** How many items from the start satisfy `test` (sorted runs: the insertion point). */
function countWhile<T>(items: readonly T[], test: (item: T) => boolean): number {
  let n = 0;
  while (n < items.length && test(items[n] as T)) n++;
  return n;
}
