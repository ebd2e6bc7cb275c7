import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../core/stream.js';
import { WatermarkTracker, withWatermarks } from '../../operators/withWatermarks.js';

type Event = StreamEvent<string>;

/** A record of `partition` with event time `timestamp`. */
const record = (partition: number, timestamp: number): Event => ({
  kind: 'data',
  partition,
  offset: 0,
  timestamp,
  value: `p${partition}@${timestamp}`,
});
const watermark = (w: number): Event => ({ kind: 'watermark', watermark: w });
const END = watermark(Number.MAX_SAFE_INTEGER);

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

// Event times are in ms like virtual time, but independent of it: the out-of-orderness is 5 ms
// of event time, the idle timeout 20 ms of (virtual) processing time.
const options = { outOfOrdernessMs: 5, idleTimeoutMs: 20 };

describe('withWatermarks', () => {
  it('trails the largest event time by the out-of-orderness, emitting after the record that advanced it', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(0, 100),
        b = record(0, 103),
        c = record(0, 101), // out of order: the watermark stays
        d = record(0, 110);
      const source = cold<Event>('a 4ms b 4ms c 4ms d 4ms |', { a, b, c, d });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 1ms (bx) 1ms c 4ms (dy) 1ms (e|)', {
        a,
        b,
        c,
        d,
        w: watermark(95),
        x: watermark(98),
        y: watermark(105),
        e: END,
      });
    });
  });

  it('is the minimum over the partitions and never goes backwards', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(1, 50),
        b = record(0, 100), // min(95, 45): no change
        c = record(1, 70), // min(95, 65)
        d = record(1, 40), // p1 goes back in time: the watermark does not
        e = record(1, 120), // min(95, 115)
        f = record(0, 130); // min(125, 115)
      const source = cold<Event>('a 4ms b 4ms c 4ms d 4ms e 4ms f 4ms |', { a, b, c, d, e, f });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe(
        '(aw) 1ms b 4ms (cx) 1ms d 4ms (ey) 1ms (fz) 1ms (m|)',
        { a, b, c, d, e, f, w: watermark(45), x: watermark(65), y: watermark(95), z: watermark(115), m: END },
      );
    });
  });

  it('excludes a partition idle for the idle timeout, on a timer, without waiting for data', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(0, 100), // p0's last record: idle from 20 ms
        b = record(1, 200),
        c = record(1, 210), // p1 idle from 30 ms
        d = record(0, 105), // p0 active again, behind the watermark: it stays
        e = record(1, 230); // min(100, 225)
      const source = cold<Event>('a 4ms b 4ms c 29ms d 4ms e 4ms |', { a, b, c, d, e });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe(
        '(aw) 1ms b 4ms c 9ms x 19ms d 4ms e 4ms (m|)',
        { a, b, c, d, e, w: watermark(95), x: watermark(205), m: END },
      );
      flush();
      expect(tracker.current()).toBe(205);
    });
  });

  it('does not advance when every partition is idle', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(0, 100),
        b = record(1, 200);
      // Both turn idle at 20 ms; the source never completes.
      const source = cold<Event>('(ab)', { a, b });
      expectObservable(source.pipe(withWatermarks(tracker)), '^ 99ms !').toBe('(awb)', {
        a,
        b,
        w: watermark(95),
      });
    });
  });

  it('starts from restored partitions, which turn idle like the others when they get no records', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      tracker.restore(1, 50); // at 0 ms: idle from 20 ms
      const a = record(0, 100),
        b = record(0, 102); // p0 idle from 30 ms
      const source = cold<Event>('a 9ms b 19ms |', { a, b });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 6ms b 9ms x 9ms (m|)', {
        a,
        b,
        w: watermark(45),
        x: watermark(97),
        m: END,
      });
    });
  });

  it('does not count the time its clock is frozen (records being written) towards idleness', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      tracker.restore(1, 50); // at 0 ms: idle from 20 ms, but frozen from 5 to 25 ms: from 40 ms
      ts.schedule(() => tracker.freeze(), 5);
      ts.schedule(() => tracker.thaw(), 25);
      const a = record(0, 100),
        b = record(0, 102);
      const source = cold<Event>('a 29ms b 19ms |', { a, b });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 26ms b 9ms x 9ms (m|)', {
        a,
        b,
        w: watermark(45),
        x: watermark(97),
        m: END,
      });
    });
  });

  it('stops waiting for a forgotten partition, and snapshots the partitions it knows', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      tracker.restore(1, 50);
      tracker.restore(2, 60);
      const a = record(0, 100),
        b = record(0, 101);
      ts.schedule(() => tracker.forget(1), 5);
      const source = cold<Event>('a 9ms b 4ms |', { a, b });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 6ms (bx) 1ms (m|)', {
        a,
        b,
        w: watermark(45),
        x: watermark(55),
        m: END,
      });
      flush();
      expect(tracker.partitions()).toEqual(
        new Map([
          [0, 101],
          [2, 60],
        ]),
      );
      expect(tracker.current()).toBe(55);
    });
  });

  it('drops watermark events of the input', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(0, 100);
      const source = cold<Event>('a 4ms v 4ms |', { a, v: watermark(1_000) });
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 6ms (m|)', {
        a,
        w: watermark(95),
        m: END,
      });
    });
  });

  it('emits a final watermark on completion unless told not to', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = record(0, 100);
      const source = cold<Event>('a 9ms |', { a });
      const withFinal = new WatermarkTracker({ ...options, scheduler: ts });
      const without = new WatermarkTracker({ ...options, scheduler: ts });
      expectObservable(source.pipe(withWatermarks(withFinal))).toBe('(aw) 6ms (m|)', {
        a,
        w: watermark(95),
        m: END,
      });
      expectObservable(source.pipe(withWatermarks(without, { finalWatermarkOnComplete: false }))).toBe(
        '(aw) 6ms |',
        {
          a,
          w: watermark(95),
        },
      );
    });
  });

  it('after a rewind (partitions taken over on a rebalance) emits the lower watermark before the next record', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const tracker = new WatermarkTracker({ ...options, scheduler: ts });
      const a = record(0, 100),
        b = record(1, 60); // a partition taken over, behind the watermark
      const source = cold<Event>('a 4ms b 4ms |', { a, b });
      // Between a and b the rebalance hands over partition 1, restored at event time 60.
      ts.schedule(() => {
        tracker.restore(1, 60);
        tracker.rewind();
      }, 2);
      expectObservable(source.pipe(withWatermarks(tracker))).toBe('(aw) 1ms (xb) 1ms (e|)', {
        a,
        b,
        w: watermark(95),
        x: watermark(55),
        e: END,
      });
    });
  });
});
