import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../core/stream.js';
import { HeldResults } from '../../topology/windowStage.js';

type Event = Parameters<HeldResults['add']>[2];

const MINUTE = 60_000;

/** A held result of `series` (a key) in `partition` for the minute at `start`. */
function result(partition: number, series: number, start: number): Event {
  return {
    kind: 'data',
    partition,
    offset: -1,
    timestamp: start,
    value: { start, key: `s${series}`, aggregate: undefined as never },
  };
}

describe('HeldResults', () => {
  it('passes a close on by partition and series, each series in time order, and holds nothing after', () => {
    const held = new HeldResults();
    // As a close emits them: by start, then store, then the order the windows were opened.
    const added: Event[] = [];
    for (let minute = 0; minute < 3; minute++)
      for (const partition of [1, 0])
        for (const series of [2, 0, 1]) {
          const event = result(partition, series, minute * MINUTE);
          added.push(event);
          held.add(partition, series, event);
        }
    const out: Array<StreamEvent<unknown>> = [];
    held.flush((e) => out.push(e));
    expect(out).toHaveLength(added.length);
    expect(new Set(out)).toEqual(new Set(added));
    const order = out.map((e) => {
      const d = e as Extract<Event, { kind: 'data' }>;
      return `${d.partition}/${d.value.key}@${d.value.start / MINUTE}`;
    });
    expect(order.slice(0, 4)).toEqual(['0/s0@0', '0/s0@1', '0/s0@2', '0/s1@0']);
    expect(order.at(-1)).toBe('1/s2@2');
    const sorted = [...order].sort();
    expect(order).toEqual(sorted);
    const again: unknown[] = [];
    held.flush((e) => again.push(e));
    expect(again).toEqual([]);
  });

  it('grows past its first room', () => {
    const held = new HeldResults();
    for (let i = 0; i < 5000; i++) held.add(0, 4999 - i, result(0, 4999 - i, 0));
    const out: number[] = [];
    held.flush((e) => out.push(Number((e as Extract<Event, { kind: 'data' }>).value.key.slice(1))));
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});
