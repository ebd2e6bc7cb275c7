import { from } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Aggregator } from '../../core/aggregator.js';
import type { StreamEvent } from '../../core/stream.js';
import {
  MemoryWindowStore,
  tumblingWindow,
  type Runs,
  type WindowOutput,
} from '../../operators/tumblingWindow.js';

interface Point {
  key: string;
  value: number;
}
type Acc = number[];
type Out = WindowOutput<Point, Acc>;

/** Collects the values of a window in arrival order; a new array each time, so emitted results stay as they were. */
const collect: Aggregator<Point, Acc> = { create: () => [], add: (acc, point) => [...acc, point.value] };

const SIZE = 10;
const GRACE = 5;
const LATENESS = 10;
// Window [0, 10) closes at watermark 15 and is purged at 25.

function record(timestamp: number, value: number, key = 'k', partition = 0): StreamEvent<Point> {
  return { kind: 'data', partition, offset: value, timestamp, value: { key, value } };
}
const watermark = (w: number) => ({ kind: 'watermark' as const, watermark: w });
function result(key: string, start: number, acc: Acc, revision: number, partition = 0): Out {
  return { kind: 'result', partition, key, start, end: start + SIZE, acc, revision };
}

/** The operator under test with one memory store per partition (and `horizon`, if given). */
function setup(allowedLatenessMs = LATENESS, horizon?: (partition: number, watermark: number) => number) {
  const stores = new Map<number, MemoryWindowStore<Acc>>();
  const storeOf = (partition: number) => {
    const store = stores.get(partition) ?? new MemoryWindowStore<Acc>();
    stores.set(partition, store);
    return store;
  };
  const windows = tumblingWindow<Point, Acc>({
    sizeMs: SIZE,
    graceMs: GRACE,
    allowedLatenessMs,
    key: (point) => point.key,
    aggregator: collect,
    store: storeOf,
    ...(horizon ? { horizon } : {}),
  });
  /** The store's windows as `id#revision`. */
  const contents = (partition: number) =>
    [...storeOf(partition).entries()].map(([id, s]) => `${id}#${s.revision}`);
  return { windows, storeOf, contents };
}

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('tumblingWindow', () => {
  it('emits each window once, when the watermark passes its end plus the grace, and nothing before', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows } = setup();
      const source = cold('a 4ms b 4ms c 4ms x 4ms y 4ms z 4ms |', {
        a: record(1, 1),
        b: record(4, 2),
        c: record(12, 3),
        x: watermark(14),
        y: watermark(15),
        z: watermark(40),
      });
      expectObservable(source.pipe(windows)).toBe('15ms x 4ms (ry) 1ms (sz) 1ms |', {
        x: watermark(14),
        y: watermark(15),
        z: watermark(40),
        r: result('k', 0, [1, 2], 1),
        s: result('k', 10, [3], 1),
      });
    });
  });

  it('takes an out-of-order record within the grace period into the result', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows } = setup();
      const source = cold('a 4ms x 4ms b 4ms y 4ms |', {
        a: record(8, 1),
        x: watermark(12),
        b: record(3, 2), // behind the watermark, but its window is open until 15
        y: watermark(15),
      });
      expectObservable(source.pipe(windows)).toBe('5ms x 9ms (ry) 1ms |', {
        x: watermark(12),
        y: watermark(15),
        r: result('k', 0, [1, 2], 1),
      });
    });
  });

  it('emits a corrected result at once for a record within the allowed lateness', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows } = setup();
      const source = cold('a 4ms y 4ms b 4ms z 4ms c 4ms |', {
        a: record(1, 1),
        y: watermark(15),
        b: record(5, 7),
        z: watermark(24),
        c: record(9, 8), // the last moment: the window is purged at 25
      });
      expectObservable(source.pipe(windows)).toBe('5ms (ry) 1ms s 4ms z 4ms t 4ms |', {
        y: watermark(15),
        z: watermark(24),
        r: result('k', 0, [1], 1),
        s: result('k', 0, [1, 7], 2),
        t: result('k', 0, [1, 7, 8], 3),
      });
    });
  });

  it('sends a record later than the allowed lateness to the late output, with the reason, without aggregating it', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const { windows, contents } = setup();
      const b = record(3, 9);
      const source = cold('a 4ms w 4ms b 4ms z 4ms |', {
        a: record(1, 1),
        w: watermark(25),
        b,
        z: watermark(Number.MAX_SAFE_INTEGER),
      });
      const late: Out = {
        kind: 'late',
        partition: 0,
        offset: 9,
        timestamp: 3,
        value: { key: 'k', value: 9 },
        reason:
          'event time 1970-01-01T00:00:00.003Z is 22 ms behind the watermark 1970-01-01T00:00:00.025Z; ' +
          'window [1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.010Z) closed and its allowed lateness of 10 ms has passed',
      };
      expectObservable(source.pipe(windows)).toBe('5ms (rw) 1ms l 4ms z 4ms |', {
        r: result('k', 0, [1], 1),
        w: watermark(25),
        l: late,
        z: watermark(Number.MAX_SAFE_INTEGER),
      });
      flush();
      expect(contents(0)).toEqual([]);
    });
  });

  it('keeps the windows of each partition in its own store', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const { windows, storeOf } = setup();
      const source = cold('a 4ms b 4ms c 4ms w 4ms |', {
        a: record(1, 1, 'k', 0),
        b: record(2, 2, 'k', 1),
        c: record(3, 3, 'k', 0),
        w: watermark(15),
      });
      expectObservable(source.pipe(windows)).toBe('15ms (rsw) |', {
        r: result('k', 0, [1, 3], 1, 0),
        s: result('k', 0, [2], 1, 1),
        w: watermark(15),
      });
      flush();
      expect([...storeOf(0).entries()]).toEqual([['k@0', { key: 'k', start: 0, acc: [1, 3], revision: 1 }]]);
      expect([...storeOf(1).entries()]).toEqual([['k@0', { key: 'k', start: 0, acc: [2], revision: 1 }]]);
    });
  });

  it('emits the windows a watermark closes in time order, those of one start in the order of their stores', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows } = setup();
      const source = cold('abcdef 4ms w 9ms |', {
        a: record(12, 1, 'b'),
        b: record(3, 2, 'c'),
        c: record(14, 3, 'a', 1),
        d: record(5, 4, 'b'),
        e: record(7, 5, 'a', 1),
        f: record(8, 6, 'a'),
        w: watermark(25),
      });
      expectObservable(source.pipe(windows)).toBe('10ms (123456w) 1ms |', {
        // Partition 0's store first (seen first), each store in the order its windows opened.
        1: result('c', 0, [2], 1, 0),
        2: result('b', 0, [4], 1, 0),
        3: result('a', 0, [6], 1, 0),
        4: result('a', 0, [5], 1, 1),
        5: result('b', 10, [1], 1, 0),
        6: result('a', 10, [3], 1, 1),
        w: watermark(25),
      });
    });
  });

  it('purges a window from its store once its allowed lateness has passed', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { windows, contents } = setup();
      const snapshots: string[][] = [];
      for (const frame of [3, 12, 17]) ts.schedule(() => snapshots.push(contents(0)), frame);
      const source = cold('a 4ms b 4ms w 4ms v 4ms |', {
        a: record(1, 1),
        b: record(13, 2),
        w: watermark(25),
        v: watermark(35),
      });
      expectObservable(source.pipe(windows)).toBe('10ms (rsw) v 4ms |', {
        r: result('k', 0, [1], 1),
        s: result('k', 10, [2], 1),
        w: watermark(25),
        v: watermark(35),
      });
      flush();
      expect(snapshots).toEqual([['k@0#0'], ['k@10#1'], []]);
    });
  });

  it('closes and purges on the watermarks that reach a close or a purge time, and on those only', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { windows, contents } = setup(3); // [0, 10) closes at 15, is purged at 18
      const snapshots: string[][] = [];
      for (const frame of [12, 17]) ts.schedule(() => snapshots.push(contents(0)), frame);
      const source = cold('a 4ms x 4ms w 4ms v 4ms |', {
        a: record(1, 1),
        x: watermark(14),
        w: watermark(15),
        v: watermark(18),
      });
      expectObservable(source.pipe(windows)).toBe('5ms x 4ms (rw) 1ms v 4ms |', {
        x: watermark(14),
        r: result('k', 0, [1], 1),
        w: watermark(15),
        v: watermark(18),
      });
      flush();
      expect(snapshots).toEqual([['k@0#1'], []]);
    });
  });

  it('emits the closed windows of a store seen for the first time at the next watermark', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows, storeOf } = setup();
      // Restored from a changelog: closed by now, never emitted.
      storeOf(1).put('r@0', { key: 'r', start: 0, acc: [42], revision: 0 });
      const source = cold('a 4ms w 4ms b 4ms v 4ms |', {
        a: record(21, 1, 'k', 0),
        w: watermark(16),
        b: record(22, 2, 'k', 1),
        v: watermark(17), // crosses no window boundary
      });
      expectObservable(source.pipe(windows)).toBe('5ms w 9ms (rv) 1ms |', {
        w: watermark(16),
        r: result('r', 0, [42], 1, 1),
        v: watermark(17),
      });
    });
  });

  it('forwards the watermarks that change, a lower one too (a rewind after a rebalance), and drops repeats', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { windows } = setup();
      const source = cold('x 4ms y 4ms z 4ms |', { x: watermark(15), y: watermark(15), z: watermark(12) });
      expectObservable(source.pipe(windows)).toBe('x 9ms z 4ms |', { x: watermark(15), z: watermark(12) });
    });
  });

  it('judges lateness by the partition horizon, not by the watermark, and purges once both have passed', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      // Partition 0 has reached 30 in its own records, whatever the watermark says.
      const { windows, contents } = setup(LATENESS, (partition) => (partition === 0 ? 30 : 0));
      const snapshots: string[][] = [];
      ts.schedule(() => snapshots.push(contents(0)), 7);
      const source = cold('a 4ms b 4ms w 4ms |', {
        a: record(12, 1),
        b: record(3, 2), // [0, 10) takes no more records past 25 by partition 0's horizon
        w: watermark(40),
      });
      expectObservable(source.pipe(windows)).toBe('5ms l 4ms (rw) 1ms |', {
        l: {
          kind: 'late',
          partition: 0,
          offset: 2,
          timestamp: 3,
          value: { key: 'k', value: 2 },
          reason:
            'event time 1970-01-01T00:00:00.003Z is 27 ms behind the horizon of partition 0 1970-01-01T00:00:00.030Z; ' +
            'window [1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.010Z) closed and its allowed lateness of 10 ms has passed',
        },
        r: result('k', 10, [1], 1),
        w: watermark(40),
      });
      flush();
      // [10, 20) closed at watermark 40, but stays for corrections until the horizon passes 35.
      expect(snapshots).toEqual([['k@10#0']]);
      expect(contents(0)).toEqual(['k@10#1']);
    });
  });

  it('never opens a window its store purged, even when the watermark and horizon are lower (after a restart)', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const { windows, storeOf, contents } = setup(LATENESS, () => Number.NEGATIVE_INFINITY);
      storeOf(0).setPurgedThrough(25); // restored: [0, 10) was closed and purged before
      const source = cold('a 4ms b 4ms |', { a: record(3, 1), b: record(12, 2) });
      expectObservable(source.pipe(windows)).toBe('l 9ms |', {
        l: {
          kind: 'late',
          partition: 0,
          offset: 1,
          timestamp: 3,
          value: { key: 'k', value: 1 },
          reason:
            'event time 1970-01-01T00:00:00.003Z: window [1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.010Z) closed, ' +
            'its allowed lateness of 10 ms passed and it was purged',
        },
      });
      flush();
      expect(contents(0)).toEqual(['k@10#0']);
    });
  });

  describe('with runs (a value standing for several records)', () => {
    /** Records [timestamp, value] of one key; a record's offset is its value. */
    interface Run {
      key: string;
      points: Array<[number, number]>;
    }
    const runs: Runs<Run> = {
      size: (run) => run.points.length,
      timestamp: (run, i) => (run.points[i] as [number, number])[0],
      offset: (run, i) => (run.points[i] as [number, number])[1],
      slice: (run, from, to) => ({ key: run.key, points: run.points.slice(from, to) }),
    };
    const run = (...points: Array<[number, number]>): StreamEvent<Run> => ({
      kind: 'data',
      partition: 0,
      offset: (points[0] as [number, number])[1],
      timestamp: Math.max(...points.map(([t]) => t)),
      value: { key: 'k', points },
    });

    function outputs(events: Array<StreamEvent<Run>>) {
      let calls = 0;
      const store = new MemoryWindowStore<Acc>();
      const windows = tumblingWindow<Run, Acc>({
        sizeMs: SIZE,
        graceMs: GRACE,
        allowedLatenessMs: LATENESS,
        key: (r) => r.key,
        aggregator: {
          create: () => [],
          add: (acc, r) => {
            calls += 1;
            return [...acc, ...r.points.map(([, v]) => v)];
          },
        },
        store: () => store,
        runs,
      });
      const out: Array<WindowOutput<Run, Acc>> = [];
      from(events)
        .pipe(windows)
        .subscribe((o) => out.push(o));
      return { out, calls: () => calls };
    }

    it('cuts a run at window boundaries and adds each piece in one call', () => {
      const { out, calls } = outputs([run([1, 1], [4, 2], [12, 3], [13, 4]), watermark(40)]);
      expect(calls()).toBe(2);
      expect(out).toEqual([result('k', 0, [1, 2], 1), result('k', 10, [3, 4], 1), watermark(40)]);
    });

    it('corrects a closed window record by record, and sends late records one by one with their own times', () => {
      const { out } = outputs([
        run([1, 1], [4, 2]),
        watermark(15),
        run([5, 5], [6, 6]),
        watermark(30),
        run([7, 7], [8, 8]),
      ]);
      const late = (timestamp: number) => ({
        kind: 'late',
        partition: 0,
        offset: timestamp,
        timestamp,
        value: { key: 'k', points: [[timestamp, timestamp]] },
        reason:
          `event time 1970-01-01T00:00:00.00${timestamp}Z is ${30 - timestamp} ms behind the watermark 1970-01-01T00:00:00.030Z; ` +
          'window [1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.010Z) closed and its allowed lateness of 10 ms has passed',
      });
      expect(out).toEqual([
        result('k', 0, [1, 2], 1),
        watermark(15),
        result('k', 0, [1, 2, 5], 2),
        result('k', 0, [1, 2, 5, 6], 3),
        watermark(30),
        late(7),
        late(8),
      ]);
    });
  });
});
