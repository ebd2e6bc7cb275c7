import { Observable, type OperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import type { Aggregator } from '../core/aggregator.js';
import type { StreamEvent } from '../core/stream.js';
import type { WindowState, WindowStore } from '../streams/windowStore.js';

/** A window store in a Map, for tests and for state that need not survive a restart. */
export class MemoryWindowStore<A> implements WindowStore<A> {
  private readonly map = new Map<string, WindowState<A>>();
  private purged = Number.NEGATIVE_INFINITY;

  get(id: string): WindowState<A> | undefined {
    return this.map.get(id);
  }

  put(id: string, state: WindowState<A>): void {
    this.map.set(id, state);
  }

  delete(id: string): void {
    this.map.delete(id);
  }

  entries(): IterableIterator<[string, WindowState<A>]> {
    return this.map.entries();
  }

  get size(): number {
    return this.map.size;
  }

  purgedThrough(): number {
    return this.purged;
  }

  setPurgedThrough(time: number): void {
    this.purged = time;
  }
}

export type WindowOutput<V, A> =
  /**
   * A window's aggregate: revision 1 when it closes, 2, 3 … for each late record within the
   * allowed lateness. `series`: the key's number in the first tier's table of the partition
   * (`sampleWindow` gives it), a small integer to group results by.
   */
  | {
      kind: 'result';
      partition: number;
      key: string;
      start: number;
      end: number;
      acc: A;
      revision: number;
      series?: number;
    }
  /** A record too late for its window (side output): not aggregated. */
  | { kind: 'late'; partition: number; offset: number; timestamp: number; value: V; reason: string }
  | { kind: 'watermark'; watermark: number };

export interface TumblingWindowOptions<V, A> {
  /** Window length; windows are [start, start + sizeMs) aligned to the epoch. */
  sizeMs: number;
  /** How long after its end a window still takes records before it emits its result. */
  graceMs: number;
  /** How long after it closed a window still takes records, each emitting a corrected result. */
  allowedLatenessMs: number;
  key: (value: V) => string;
  aggregator: Aggregator<V, A>;
  /**
   * The store of a partition's windows. Asked again for every partition seen on each watermark
   * that closes windows; undefined means the partition is gone (revoked) and is no longer asked.
   */
  store: (partition: number) => WindowStore<A> | undefined;
  /**
   * The event time a partition's input has reached as lateness counts it (`watermark`: the
   * operator's): a record is late once its window's end plus grace plus allowed lateness is at or
   * before it, and a window is purged once both the watermark and it pass that time. The
   * watermark itself by default. To decide lateness the same way in every replay, whatever the
   * kills, it must depend only on the partition's own records and on state restored with its
   * store, not on the watermark (which depends on other partitions and on processing time).
   */
  horizon?: (partition: number, watermark: number) => number;
  /**
   * The partitions whose stores exist, when they can hold windows the operator has not seen
   * records for (restored from a changelog after a restart or rebalance): watermarks close
   * those too. Without it, only the partitions seen in data events are scanned.
   */
  partitions?: () => Iterable<number>;
  /**
   * How to read a value that stands for several records (a record's consecutive samples of one
   * series): the operator cuts it at window boundaries and hands each piece to the aggregator
   * at once, one store lookup per piece instead of per record. Late records and corrections
   * still go record by record, each with its own event time, as without runs. The data event's
   * `timestamp` is then the largest event time of the run (what the watermark follows).
   */
  runs?: Runs<V>;
}

/** A value standing for `size(value)` records, each with its own event time and offset. */
export interface Runs<V> {
  size(value: V): number;
  timestamp(value: V, i: number): number;
  offset(value: V, i: number): number;
  /** Records [from, to) of `value`, as a value of their own. */
  slice(value: V, from: number, to: number): V;
}

/** Keys whose last window id `tumblingWindow` remembers, at most (beyond, it starts over). */
const LAST_IDS_LIMIT = 200_000;

/**
 * Aggregates data events per key into tumbling event-time windows and emits each window's
 * result once, when the watermark passes its end plus the grace period (suppress until the
 * window closes); a record arriving later, within the allowed lateness, emits a corrected
 * result at once (revision 2, 3 …); a record later still (judged against `horizon`, or
 * against a window already purged) is emitted as `late` and dropped. Watermark events are
 * forwarded after the results they caused.
 *
 * ```ts
 * events$.pipe(
 *   withWatermarks(tracker),
 *   tumblingWindow({ sizeMs: 60_000, graceMs: 10_000, allowedLatenessMs: 60_000,
 *     key: (row) => String(row.seriesId), aggregator: sampleAggregator, store: (p) => stores.get(p) }),
 * )
 * ```
 *
 * A result's `acc` is the window's live state: a later late record mutates it, so read it
 * (e.g. `finalize`) before the next event.
 */
export function tumblingWindow<V, A>(
  options: TumblingWindowOptions<V, A>,
): OperatorFunction<StreamEvent<V>, WindowOutput<V, A>> {
  const { sizeMs, graceMs, allowedLatenessMs, key, aggregator, store, runs } = options;
  const horizonOf = options.horizon ?? ((_partition: number, watermark: number) => watermark);
  const horizonName = options.horizon
    ? (p: number) => `the horizon of partition ${p}`
    : () => 'the watermark';
  return (source) =>
    new Observable<WindowOutput<V, A>>((subscriber) => {
      // The input's watermark: windows ending at or before it minus the grace are closed.
      let watermark = -Infinity;
      // The store of every partition seen, as last returned by `store`.
      const stores = new SeenStores(store, options.partitions);
      // Per key, the id of its last window: the same string again for the next record of that
      // window, so that the store hashes it once rather than a new string per record.
      const lastIds = new Map<string, { start: number; id: string }>();
      const windowId = (k: string, start: number): string => {
        const last = lastIds.get(k);
        if (last === undefined) {
          const id = `${k}@${start}`;
          if (lastIds.size >= LAST_IDS_LIMIT) lastIds.clear();
          lastIds.set(k, { start, id });
          return id;
        }
        if (last.start !== start) {
          last.start = start;
          last.id = `${k}@${start}`;
        }
        return last.id;
      };

      const onData = (event: Extract<StreamEvent<V>, { kind: 'data' }>) => {
        const { partition, value } = event;
        const windows = stores.of(partition);
        if (runs === undefined) {
          addPiece(partition, windows, event.timestamp, value, 1, event.offset, event.timestamp);
          return;
        }
        // Consecutive records of one window form a piece: one lookup, one aggregator call.
        const size = runs.size(value);
        for (let from = 0; from < size;) {
          const first = runs.timestamp(value, from);
          const start = Math.floor(first / sizeMs) * sizeMs;
          let to = from + 1;
          for (let t = first; to < size; to++) {
            t = runs.timestamp(value, to);
            if (t < start || t >= start + sizeMs) break;
          }
          const piece = from === 0 && to === size ? value : runs.slice(value, from, to);
          addPiece(partition, windows, start, piece, to - from, event.offset, event.timestamp);
          from = to;
        }
      };

      // The i-th record of a piece of `count`: its offset, its time, itself (the event's without runs).
      const offsetAt = (value: V, i: number, offset: number) => (runs ? runs.offset(value, i) : offset);
      const timeAt = (value: V, i: number, timestamp: number) =>
        runs ? runs.timestamp(value, i) : timestamp;
      const recordOf = (value: V, i: number, count: number) =>
        count === 1 || !runs ? value : runs.slice(value, i, i + 1);

      /**
       * `count` records of one window (at `anyTime`, a time in it). Without runs, the one record's
       * offset and time are `offset` and `timestamp`; with runs, `value` says them.
       */
      const addPiece = (
        partition: number,
        windows: WindowStore<A>,
        anyTime: number,
        value: V,
        count: number,
        offset: number,
        timestamp: number,
      ) => {
        const start = Math.floor(anyTime / sizeMs) * sizeMs;
        const end = start + sizeMs;
        const horizon = horizonOf(partition, watermark);
        // A window purged (before a restart, say) stays closed even if the horizon is lower now.
        if (Math.max(horizon, windows.purgedThrough()) >= end + graceMs + allowedLatenessMs) {
          for (let i = 0; i < count; i++) {
            const at = timeAt(value, i, timestamp);
            const reason = lateReason({
              at,
              horizon,
              start,
              end,
              graceMs,
              allowedLatenessMs,
              name: horizonName(partition),
            });
            subscriber.next({
              kind: 'late',
              partition,
              offset: offsetAt(value, i, offset),
              timestamp: at,
              value: recordOf(value, i, count),
              reason,
            });
          }
          return;
        }
        const k = key(value);
        const id = windowId(k, start);
        const held = windows.get(id);
        const state = held ?? { key: k, start, acc: aggregator.create(), revision: 0 };
        // Suppressed until the window closes; a window that already emitted (e.g. before a restart
        // whose restored watermark is lower) emits its correction at once, one per record.
        if (watermark < end + graceMs && state.revision === 0) {
          state.acc = aggregator.add(state.acc, value, timeAt(value, count - 1, timestamp));
          // A window held is changed in place: marked so, without a second lookup.
          if (held !== undefined && windows.changed !== undefined) windows.changed(held);
          else windows.put(id, state);
          return;
        }
        let current = state;
        for (let i = 0; i < count; i++) {
          const acc = aggregator.add(current.acc, recordOf(value, i, count), timeAt(value, i, timestamp));
          const revision = current.revision + 1;
          current = { key: k, start, acc, revision };
          windows.put(id, current);
          subscriber.next({ kind: 'result', partition, key: k, start, end, acc, revision });
        }
      };

      const onWatermark = (next: number) => {
        // A lower watermark only comes after a rewind (a rebalance): it makes fewer records late.
        if (next === watermark) return;
        const from = watermark;
        watermark = next;
        stores.watermarkMoved(options, from, next, closeWindows);
        subscriber.next({ kind: 'watermark', watermark });
      };

      // Emits the closed windows not emitted yet, then purges those past their allowed lateness.
      const closeWindows = () => {
        const closing: Array<{
          partition: number;
          windows: WindowStore<A>;
          id: string;
          state: WindowState<A>;
        }> = [];
        const purging: Array<{ windows: WindowStore<A>; id: string }> = [];
        const purged: Array<{ windows: WindowStore<A>; through: number }> = [];
        for (const [partition, windows] of stores.scan()) {
          // Purged once both the watermark and the partition's horizon pass: from then on the
          // horizon judges its records late, so no record can want the window again.
          const through = Math.min(watermark, horizonOf(partition, watermark));
          for (const [id, state] of windows.entries()) {
            const end = state.start + sizeMs;
            if (state.revision === 0 && end + graceMs <= watermark)
              closing.push({ partition, windows, id, state });
            if (end + graceMs + allowedLatenessMs <= through) purging.push({ windows, id });
          }
          if (through > windows.purgedThrough()) purged.push({ windows, through });
        }
        // In time order; among windows of one start, in the stores' order (the sort is stable).
        // Comparing keys too cost more than the rest of closing a window.
        closing.sort((a, b) => a.state.start - b.state.start);
        for (const { partition, windows, id, state } of closing) {
          state.revision = 1;
          windows.put(id, state);
          subscriber.next({
            kind: 'result',
            partition,
            key: state.key,
            start: state.start,
            end: state.start + sizeMs,
            acc: state.acc,
            revision: 1,
          });
        }
        for (const { windows, id } of purging) windows.delete(id);
        for (const { windows, through } of purged) windows.setPurgedThrough(through);
      };

      const subscription = forwardEvents(source, subscriber, onData, onWatermark);

      return () => subscription.unsubscribe();
    });
}

/**
 * Subscribes a window operator to its input: data events to `onData`, watermarks to
 * `onWatermark`; what either throws, and the input's error and completion, go to `subscriber`.
 */
export function forwardEvents<V, O>(
  source: Observable<StreamEvent<V>>,
  subscriber: Subscriber<O>,
  onData: (event: Extract<StreamEvent<V>, { kind: 'data' }>) => void,
  onWatermark: (watermark: number) => void,
): Subscription {
  return source.subscribe({
    next(event) {
      try {
        if (event.kind === 'data') onData(event);
        else onWatermark(event.watermark);
      } catch (error) {
        subscriber.error(error);
      }
    },
    error(error) {
      subscriber.error(error);
    },
    complete() {
      subscriber.complete();
    },
  });
}

/**
 * Whether a watermark moving from `from` to `to` can close or purge a window: only when it makes
 * the index k of the last window [k * size, (k + 1) * size) whose end plus the delay (grace, or
 * grace plus lateness) is at or before it grow. A watermark that does not needs no scan of the stores.
 */
export function windowsDue(
  shape: { sizeMs: number; graceMs: number; allowedLatenessMs: number },
  from: number,
  to: number,
): boolean {
  const { sizeMs, graceMs, allowedLatenessMs } = shape;
  const lastDue = (t: number, delay: number) => Math.floor((t - sizeMs - delay) / sizeMs);
  return (
    lastDue(to, graceMs) > lastDue(from, graceMs) ||
    lastDue(to, graceMs + allowedLatenessMs) > lastDue(from, graceMs + allowedLatenessMs)
  );
}

/**
 * The stores a window operator has seen, by partition (`store` asked again at each scan), and
 * whether one came since the last scan: a new partition, or one restored after a rebalance, may
 * hold windows that are due although no boundary was crossed.
 */
export class SeenStores<S> {
  readonly map = new Map<number, S>();
  unscanned = false;

  constructor(
    private readonly store: (partition: number) => S | undefined,
    private readonly partitions?: () => Iterable<number>,
  ) {}

  /** The store of a data event's partition; there must be one. */
  of(partition: number): S {
    const windows = this.store(partition);
    if (windows === undefined) throw new Error(`no window store for partition ${partition}`);
    if (this.map.get(partition) !== windows) {
      this.map.set(partition, windows);
      this.unscanned = true;
    }
    return windows;
  }

  /** Takes in the stores of partitions known only through `partitions` (restored, no records yet). */
  adopt(): void {
    if (!this.partitions) return;
    for (const partition of this.partitions()) {
      if (this.map.has(partition)) continue;
      const windows = this.store(partition);
      if (windows === undefined) continue;
      this.map.set(partition, windows);
      this.unscanned = true;
    }
  }

  /**
   * The watermark moved from `from` to `to` (the operator holds `to` already): takes in restored
   * stores, then runs `close` when a window boundary was crossed or a store came since the last scan.
   */
  watermarkMoved(shape: Parameters<typeof windowsDue>[0], from: number, to: number, close: () => void): void {
    this.adopt();
    if (this.unscanned || windowsDue(shape, from, to)) close();
    this.unscanned = false;
  }

  /** The stores to scan, each as `store` gives it now; partitions without one (revoked) are dropped. */
  scan(): Array<[number, S]> {
    const out: Array<[number, S]> = [];
    for (const partition of [...this.map.keys()]) {
      const windows = this.store(partition);
      if (windows === undefined) this.map.delete(partition);
      else {
        this.map.set(partition, windows);
        out.push([partition, windows]);
      }
    }
    return out;
  }
}

/** Why a record at `at` is late for window [start, end): behind the horizon named `name`, or purged. */
export function lateReason(r: {
  at: number;
  horizon: number;
  start: number;
  end: number;
  graceMs: number;
  allowedLatenessMs: number;
  name: string;
}): string {
  const { at, horizon, start, end, allowedLatenessMs } = r;
  return horizon >= end + r.graceMs + allowedLatenessMs
    ? `event time ${time(at)} is ${horizon - at} ms behind ${r.name} ${time(horizon)}; ` +
        `window [${time(start)},${time(end)}) closed and its allowed lateness of ${allowedLatenessMs} ms has passed`
    : `event time ${time(at)}: window [${time(start)},${time(end)}) closed, its allowed lateness of ` +
        `${allowedLatenessMs} ms passed and it was purged`;
}

/** An event time for a message: ISO 8601 when it is a date, else the number of ms. */
function time(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
