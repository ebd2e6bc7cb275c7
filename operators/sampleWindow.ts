import { Observable, type OperatorFunction } from 'rxjs';
import { sampleAggregator, type Aggregate, type SampleAcc } from '../core/aggregate.js';
import type { SampleRun } from '../core/records.js';
import type { BatchSeries } from '../core/sampleColumns.js';
import { SampleTable } from '../core/sampleTable.js';
import { grownTo } from '../core/typedArrays.js';
import type { StreamEvent } from '../core/stream.js';
import { PURGED_KEY, RecordSizes, type ChangelogEntry, type WindowsCodec } from '../streams/stateStore.js';
import type { WindowState } from '../streams/windowStore.js';
import { forwardEvents, lateReason, SeenStores, type WindowOutput } from './tumblingWindow.js';

/**
 * The window store of the first tier of one partition: the windows in a `SampleTable` (flat
 * arrays, no object per window), logged to a changelog as `WindowChangelogStore` logs its
 * windows, one record per series with all its windows, in the same encoding (`codec`), so that
 * either store restores what the other wrote.
 */
export class SampleWindowStore {
  readonly table = new SampleTable();
  private purged = Number.NEGATIVE_INFINITY;
  private purgedDirty = false;
  /** Series changed since the last `changes()`. */
  private readonly dirty = new SeriesMarks();
  /** Records of the former layout (one window each, keyed `key@start`) to delete with the next `changes()`. */
  private formerKeys: string[] = [];
  private readonly sizes = new RecordSizes();
  /** Reused by `changes()`: the windows of a series as the codec takes them. */
  private readonly views: Array<WindowState<SampleAcc>> = [];

  constructor(
    readonly name: string,
    private readonly codec: WindowsCodec<SampleAcc>,
  ) {}

  /** Windows held. */
  get size(): number {
    return this.table.size;
  }

  /** Approximate bytes of the store as last written to its changelog. */
  get approximateBytes(): number {
    return this.sizes.bytes;
  }

  /** See `WindowStore.purgedThrough`. */
  purgedThrough(): number {
    return this.purged;
  }

  setPurgedThrough(time: number): void {
    this.purged = time;
    this.purgedDirty = true;
  }

  /** Marks a series' windows changed: its record is written with the next `changes()`. */
  touched(series: number): void {
    this.dirty.add(series);
  }

  /** The windows as `[key@start, state]`, each a copy (for tests and tools; the topology never asks). */
  *entries(): IterableIterator<[string, WindowState<SampleAcc>]> {
    const t = this.table;
    for (let slot = 0; slot < t.slots; slot++) {
      const series = t.seriesOf[slot] as number;
      if (series < 0) continue;
      const key = t.keyOf(series);
      const start = t.start[slot] as number;
      yield [
        `${key}@${start}`,
        { key, start, revision: t.revision[slot] as number, acc: t.view(slot, sampleAggregator.create()) },
      ];
    }
  }

  /** The changes since the last call, one record (or tombstone) per series changed, dirty marks cleared. */
  changes(): ChangelogEntry[] {
    const out: ChangelogEntry[] = this.formerKeys.map((key) => ({ key, value: null }));
    this.formerKeys = [];
    if (this.purgedDirty) {
      const value = Buffer.allocUnsafe(8);
      value.writeDoubleLE(this.purged);
      out.push({ key: PURGED_KEY, value });
      this.purgedDirty = false;
    }
    const t = this.table;
    for (const series of this.dirty.take()) {
      const key = t.keyOf(series);
      let n = 0;
      for (let slot = t.firstWindow(series); slot >= 0; slot = t.next[slot] as number) {
        let view = this.views[n];
        if (view === undefined)
          this.views.push((view = { key, start: 0, revision: 0, acc: sampleAggregator.create() }));
        view.key = key;
        view.start = t.start[slot] as number;
        view.revision = t.revision[slot] as number;
        t.view(slot, view.acc);
        n++;
      }
      const value =
        n === 0 ? null : this.codec.encode(n === this.views.length ? this.views : this.views.slice(0, n));
      this.sizes.set(key, value);
      out.push({ key, value });
    }
    return out;
  }

  /** Applies changelog records read from the topic, oldest first. */
  restore(entries: Iterable<ChangelogEntry>): void {
    const t = this.table;
    for (const { key, value } of entries) {
      if (key === PURGED_KEY) {
        if (value !== null) this.purged = value.readDoubleLE(0);
        continue;
      }
      const states = value === null ? [] : this.codec.decode(key, value);
      if (key.includes('@')) {
        // A window of the former layout: kept under its series from now on, its old record deleted.
        const at = key.lastIndexOf('@');
        const series = t.seriesIfAny(key.slice(0, at));
        if (series >= 0) {
          const slot = t.find(series, Number(key.slice(at + 1)));
          if (slot >= 0) t.delete(slot);
        }
        for (const state of states) {
          const s = t.series(state.key);
          const old = t.find(s, state.start);
          if (old >= 0) t.delete(old);
          t.load(state.key, state.start, state.revision, state.acc);
          this.dirty.add(s);
        }
        this.formerKeys.push(key);
        continue;
      }
      const series = t.seriesIfAny(key);
      if (series >= 0) {
        while (t.firstWindow(series) >= 0) t.delete(t.firstWindow(series));
        this.dirty.delete(series);
      }
      for (const state of states) t.load(key, state.start, state.revision, state.acc);
      this.sizes.set(key, value);
    }
  }
}

/**
 * A set of series numbers, marked in an array of flags (a record marks its series: a `Set` hashed
 * each), listed in the order first marked.
 */
class SeriesMarks {
  private flags = new Uint8Array(64);
  private marked: number[] = [];

  add(series: number): void {
    if (series >= this.flags.length) {
      const grown = new Uint8Array(Math.max(series + 1, this.flags.length * 2));
      grown.set(this.flags);
      this.flags = grown;
    }
    if (this.flags[series] === 1) return;
    this.flags[series] = 1;
    this.marked.push(series);
  }

  delete(series: number): void {
    if (series < this.flags.length) this.flags[series] = 0;
  }

  /** The series marked, each once, in the order first marked; the marks are cleared. */
  take(): number[] {
    const out: number[] = [];
    for (const series of this.marked) {
      if (this.flags[series] !== 1) continue;
      this.flags[series] = 0;
      out.push(series);
    }
    this.marked = [];
    return out;
  }
}

export interface SampleWindowOptions {
  sizeMs: number;
  graceMs: number;
  allowedLatenessMs: number;
  /** As `tumblingWindow`'s. */
  store: (partition: number) => SampleWindowStore | undefined;
  horizon?: (partition: number, watermark: number) => number;
  partitions?: () => Iterable<number>;
}

/**
 * `tumblingWindow` (operators/tumblingWindow.ts) for the first tier, over runs of raw
 * samples, with its windows in flat arrays (`SampleWindowStore`): the same windows, results, late
 * records and reasons, in the same order, with each result's aggregate computed when it is emitted
 * (`acc` is the `Aggregate`, which shares nothing with the window). A run's consecutive samples
 * of one series and window are added in one loop over the batch's columns.
 *
 * Every result of a subscription carries the same `Aggregate` object, written over for the next
 * one (a closing watermark emits 100,000s of results, and each new one with its sketch was the
 * largest allocation of the topology): read it, or copy it, before the next event, as
 * `tumblingWindow`'s live accumulator.
 */
export function sampleWindow(
  options: SampleWindowOptions,
): OperatorFunction<StreamEvent<SampleRun>, WindowOutput<SampleRun, Aggregate>> {
  const { sizeMs, graceMs, allowedLatenessMs, store } = options;
  const horizonOf = options.horizon ?? ((_partition: number, watermark: number) => watermark);
  const horizonName = options.horizon
    ? (p: number) => `the horizon of partition ${p}`
    : () => 'the watermark';
  return (source) =>
    new Observable<WindowOutput<SampleRun, Aggregate>>((subscriber) => {
      let watermark = -Infinity;
      const stores = new SeenStores(store, options.partitions);
      // The series number of the last run's series in the last store: records of one series come together.
      let lastStore: SampleWindowStore | undefined;
      let lastSeries: BatchSeries | undefined;
      let lastNumber = -1;
      // The one Aggregate every result carries (made with the first).
      let result: Aggregate | undefined;

      const onData = (event: Extract<StreamEvent<SampleRun>, { kind: 'data' }>) => {
        const { partition, value: run } = event;
        const windows = stores.of(partition);
        const { ts, seriesIndex } = run.columns;
        // A piece: consecutive samples of one series in one window.
        for (let from = run.from; from < run.to;) {
          const first = ts[from] as number;
          const series = seriesIndex[from] as number;
          const start = Math.floor(first / sizeMs) * sizeMs;
          let to = from + 1;
          while (
            to < run.to &&
            seriesIndex[to] === series &&
            (ts[to] as number) >= start &&
            (ts[to] as number) < start + sizeMs
          )
            to++;
          addPiece(partition, windows, start, run, from, to);
          from = to;
        }
      };

      const addPiece = (
        partition: number,
        windows: SampleWindowStore,
        start: number,
        run: SampleRun,
        from: number,
        to: number,
      ) => {
        const { columns } = run;
        const end = start + sizeMs;
        const horizon = horizonOf(partition, watermark);
        // A window purged (before a restart, say) stays closed even if the horizon is lower now.
        if (Math.max(horizon, windows.purgedThrough()) >= end + graceMs + allowedLatenessMs) {
          for (let i = from; i < to; i++) {
            const at = columns.ts[i] as number;
            subscriber.next({
              kind: 'late',
              partition,
              offset: columns.offset[i] as number,
              timestamp: at,
              value:
                to - from === 1 && run.from === from && run.to === to ? run : { columns, from: i, to: i + 1 },
              reason: lateReason({
                at,
                horizon,
                start,
                end,
                graceMs,
                allowedLatenessMs,
                name: horizonName(partition),
              }),
            });
          }
          return;
        }
        const t = windows.table;
        const described = columns.series[columns.seriesIndex[from] as number] as BatchSeries;
        if (windows !== lastStore || described !== lastSeries) {
          lastStore = windows;
          lastSeries = described;
          if (described.numberedBy === t.uid) lastNumber = described.number as number;
          else {
            lastNumber = t.series(described.key);
            described.numberedBy = t.uid;
            described.number = lastNumber;
          }
        }
        const series = lastNumber;
        let slot = t.find(series, start);
        if (slot < 0) slot = t.open(series, start);
        windows.touched(series);
        // Suppressed until the window closes; a window that already emitted (e.g. before a restart
        // whose restored watermark is lower) emits its correction at once, one per record.
        if (watermark < end + graceMs && t.revision[slot] === 0) {
          t.add(slot, columns, from, to);
          return;
        }
        const key = t.keyOf(series);
        for (let i = from; i < to; i++) {
          t.add(slot, columns, i, i + 1);
          const revision = (t.revision[slot] as number) + 1;
          t.revision[slot] = revision;
          subscriber.next({
            kind: 'result',
            partition,
            series,
            key,
            start,
            end,
            acc: (result = t.aggregate(slot, result)),
            revision,
          });
        }
      };

      const onWatermark = (next: number) => {
        if (next === watermark) return;
        const from = watermark;
        watermark = next;
        stores.watermarkMoved(options, from, next, closeWindows);
        subscriber.next({ kind: 'watermark', watermark });
      };

      // The windows a watermark closes and purges, as columns (no object per window): their
      // store (an index into `scanned`), slot, start and opening order.
      let lists: ReturnType<typeof windowLists> | undefined = windowLists();

      const closeWindows = () => {
        // Taken while in use. A close within a close (a watermark sent from downstream of a
        // result) would scan windows the outer close has not marked yet: no caller does it.
        if (lists === undefined) throw new Error('sampleWindow: windows closed while a close is emitting');
        const { closing, purging, scanned } = lists;
        lists = undefined;
        try {
          // By start; windows of one start in the stores' order, and in a store in the order they
          // were opened (as the object stores' maps keep them).
          closing.clear();
          purging.clear();
          scanned.length = 0;
          const purged: Array<{ windows: SampleWindowStore; through: number }> = [];
          for (const [partition, windows] of stores.scan()) {
            const through = Math.min(watermark, horizonOf(partition, watermark));
            const t = windows.table;
            const closeBefore = watermark - graceMs - sizeMs;
            const purgeBefore = through - graceMs - allowedLatenessMs - sizeMs;
            const { seriesOf, revision, start, opened } = t;
            const store = scanned.push({ partition, windows }) - 1;
            for (let slot = 0, n = t.slots; slot < n; slot++) {
              if ((seriesOf[slot] as number) < 0) continue;
              const s = start[slot] as number;
              if (revision[slot] === 0 && s <= closeBefore)
                closing.push(store, slot, s, opened[slot] as number);
              if (s <= purgeBefore) purging.push(store, slot, s, 0);
            }
            if (through > windows.purgedThrough()) purged.push({ windows, through });
          }
          const order = closing.sorted();
          for (let k = 0; k < order.length; k++) {
            const i = order[k] as number;
            const { partition, windows } = scanned[closing.store[i] as number] as (typeof scanned)[number];
            const slot = closing.slot[i] as number;
            const start = closing.start[i] as number;
            const t = windows.table;
            t.revision[slot] = 1;
            const series = t.seriesOf[slot] as number;
            windows.touched(series);
            subscriber.next({
              kind: 'result',
              partition,
              series,
              key: t.keyOf(series),
              start,
              end: start + sizeMs,
              acc: (result = t.aggregate(slot, result)),
              revision: 1,
            });
          }
          for (let i = 0; i < purging.length; i++) {
            const { windows } = scanned[purging.store[i] as number] as (typeof scanned)[number];
            const slot = purging.slot[i] as number;
            windows.touched(windows.table.seriesOf[slot] as number);
            windows.table.delete(slot);
          }
          for (const { windows, through } of purged) windows.setPurgedThrough(through);
        } finally {
          scanned.length = 0;
          closing.shrink();
          purging.shrink();
          lists = { closing, purging, scanned };
        }
      };

      const subscription = forwardEvents(source, subscriber, onData, onWatermark);
      return () => subscription.unsubscribe();
    });
}

/** The scratch of a close: the windows it closes and purges, and the stores they are in. */
function windowLists() {
  return {
    closing: new WindowList(),
    purging: new WindowList(),
    scanned: [] as Array<{ partition: number; windows: SampleWindowStore }>,
  };
}

/**
 * Windows as columns, grown as needed and kept between uses: a store index, a slot, a start
 * and an opening order each. `sorted` orders them by start, then store, then opening.
 */
class WindowList {
  store = new Int32Array(1024);
  slot = new Int32Array(1024);
  start = new Float64Array(1024);
  opened = new Float64Array(1024);
  private order = new Int32Array(1024);
  length = 0;

  clear(): void {
    this.length = 0;
  }

  /** After a use of under a quarter of its room (and more than the initial room): back to twice that use. */
  shrink(): void {
    const capacity = this.store.length;
    if (capacity <= 4096 || this.length * 4 >= capacity) return;
    const size = Math.max(1024, this.length * 2);
    this.store = this.store.slice(0, size);
    this.slot = this.slot.slice(0, size);
    this.start = this.start.slice(0, size);
    this.opened = this.opened.slice(0, size);
    this.order = new Int32Array(size);
  }

  push(store: number, slot: number, start: number, opened: number): void {
    if (this.length === this.store.length) this.grow();
    const i = this.length++;
    this.store[i] = store;
    this.slot[i] = slot;
    this.start[i] = start;
    this.opened[i] = opened;
  }

  /** The indexes of the windows in order (valid until the next `sorted`). */
  sorted(): Int32Array {
    const order = this.order.subarray(0, this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const { store, start, opened } = this;
    return order.sort(
      (a, b) =>
        (start[a] as number) - (start[b] as number) ||
        (store[a] as number) - (store[b] as number) ||
        (opened[a] as number) - (opened[b] as number),
    );
  }

  private grow(): void {
    const capacity = this.store.length * 2;
    this.store = grownTo(this.store, capacity);
    this.slot = grownTo(this.slot, capacity);
    this.start = grownTo(this.start, capacity);
    this.opened = grownTo(this.opened, capacity);
    this.order = new Int32Array(capacity);
  }
}
