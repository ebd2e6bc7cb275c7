import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { bufferRows } from '../../operators/bufferRows.js';

/** Items of the marbles: a letter and the rows it carries. */
interface Item {
  id: string;
  rows: number;
}

const weigh = (item: Item) => item.rows;
const one = (id: string): Item => ({ id, rows: 1 });

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Delegates to `inner` and counts how many scheduled timers actually ran. */
function countingScheduler(inner: SchedulerLike): { scheduler: SchedulerLike; fired: () => number } {
  let fired = 0;
  const scheduler: SchedulerLike = {
    now: () => inner.now(),
    schedule<T>(
      work: (this: SchedulerAction<T>, state?: T) => void,
      delay?: number,
      state?: T,
    ): Subscription {
      return inner.schedule<T>(
        function (this: SchedulerAction<T>, s?: T) {
          fired++;
          work.call(this, s);
        },
        delay,
        state,
      );
    },
  };
  return { scheduler, fired: () => fired };
}

describe('bufferRows', () => {
  it('emits as soon as the buffered weight reaches maxRows', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = one('a'),
        b = one('b'),
        c = one('c'),
        d = one('d');
      const source = cold('a-b-c-d-|', { a, b, c, d });
      const out = source.pipe(bufferRows({ maxRows: 3, maxMs: 100, weigh, scheduler: ts }));
      expectObservable(out).toBe('----x---(y|)', { x: [a, b, c], y: [d] });
    });
  });

  it('counts rows, not items: one heavy item fills the buffer on its own', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a: Item = { id: 'a', rows: 2 },
        b: Item = { id: 'b', rows: 5 },
        c: Item = { id: 'c', rows: 1 };
      const source = cold('a-b-c|', { a, b, c });
      const out = source.pipe(bufferRows({ maxRows: 4, maxMs: 100, weigh, scheduler: ts }));
      expectObservable(out).toBe('--x--(y|)', { x: [a, b], y: [c] });
    });
  });

  it('emits when the oldest item has waited maxMs, timed from the first item of an empty buffer', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = one('a'),
        b = one('b'),
        c = one('c');
      // b does not restart the timer a started; c, arriving at an empty buffer, starts a new one.
      const source = cold('a-b----c------|', { a, b, c });
      const out = source.pipe(bufferRows({ maxRows: 10, maxMs: 5, weigh, scheduler: ts }));
      expectObservable(out).toBe('-----x------y-|', { x: [a, b], y: [c] });
    });
  });

  it('cancels the age timer when the size trigger empties the buffer', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = one('a'),
        b = one('b'),
        c = one('c'),
        d = one('d');
      // The timer a started (due at 5) must not flush d early: d's own timer is due at 4 + 5 = 9.
      const source = cold('abc-d---------|', { a, b, c, d });
      const out = source.pipe(bufferRows({ maxRows: 3, maxMs: 5, weigh, scheduler: ts }));
      expectObservable(out).toBe('--x------y----|', { x: [a, b, c], y: [d] });
    });
  });

  it('flushes what is left when the source completes, then completes', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = one('a'),
        b = one('b');
      const source = cold('a-b-|', { a, b });
      const out = source.pipe(bufferRows({ maxRows: 10, maxMs: 100, weigh, scheduler: ts }));
      expectObservable(out).toBe('----(x|)', { x: [a, b] });
    });
  });

  it('never emits an empty array: not on complete after a size flush, not for an empty source', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const a = one('a'),
        b = one('b');
      const full = cold('ab|', { a, b }).pipe(bufferRows({ maxRows: 2, maxMs: 3, weigh, scheduler: ts }));
      expectObservable(full).toBe('-x|', { x: [a, b] });
      const empty = cold<Item>('--------|').pipe(bufferRows({ maxRows: 2, maxMs: 3, weigh, scheduler: ts }));
      expectObservable(empty).toBe('--------|');
    });
  });

  it('propagates an error at once, without emitting the buffered items', () => {
    const ts = testScheduler();
    const { scheduler, fired } = countingScheduler(ts);
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = one('a');
      const source = cold('a-#', { a }, new Error('broker gone'));
      const out = source.pipe(bufferRows({ maxRows: 10, maxMs: 5, weigh, scheduler }));
      expectObservable(out).toBe('--#', undefined, new Error('broker gone'));
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    expect(fired()).toBe(0);
  });

  it('cancels the pending timer when the subscriber unsubscribes', () => {
    const ts = testScheduler();
    const { scheduler, fired } = countingScheduler(ts);
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = one('a');
      const source = cold('a---------', { a });
      const out = source.pipe(bufferRows({ maxRows: 10, maxMs: 5, weigh, scheduler }));
      expectObservable(out, '^--!').toBe('----------');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    // The timer a started was due at frame 5, after the unsubscription at 3: it must never run.
    expect(fired()).toBe(0);
  });

  it('runs the age timer exactly once per buffer (control for the cancellation tests)', () => {
    const ts = testScheduler();
    const { scheduler, fired } = countingScheduler(ts);
    ts.run(({ cold, expectObservable }) => {
      const a = one('a');
      const out = cold('a---------|', { a }).pipe(bufferRows({ maxRows: 10, maxMs: 5, weigh, scheduler }));
      expectObservable(out).toBe('-----x----|', { x: [a] });
    });
    expect(fired()).toBe(1);
  });
});
