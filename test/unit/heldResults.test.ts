import { describe, expect, it } from 'vitest';
import type { PackedAggregate } from '../../core/aggregate.js';
import type { StreamEvent } from '../../core/stream.js';
import { HeldResults } from '../../topology/windowStage.js';

const MINUTE = 60_000;

/** A stand-in packed aggregate that says whose it is. */
const packed = (name: string) => [name] as unknown as PackedAggregate;

/** What each forwarded event said when it went on (the event is one object, written over). */
function flushed(held: HeldResults): string[] {
  const out: string[] = [];
  held.flush((e: StreamEvent<unknown>) => {
    const d = e as Extract<StreamEvent<{ start: number; key: string; packed?: unknown }>, { kind: 'data' }>;
    const name = (d.value.packed as unknown as string[])[0];
    out.push(`${d.partition}/${d.value.key}@${d.value.start / MINUTE} t${d.timestamp / MINUTE} ${name}`);
  });
  return out;
}

describe('HeldResults', () => {
  it('passes a close on by partition and series, each series in time order, and holds nothing after', () => {
    const held = new HeldResults();
    // As a close emits them: by start, then store, then the order the windows were opened.
    let added = 0;
    for (let minute = 0; minute < 3; minute++)
      for (const partition of [1, 0])
        for (const series of [2, 0, 1]) {
          const name = `${partition}/s${series}@${minute}`;
          held.add(partition, series, `s${series}`, minute * MINUTE, packed(name));
          added++;
        }
    const out = flushed(held);
    expect(out).toHaveLength(added);
    // Each event carries its own result: partition, key, start, time and packed aggregate agree.
    for (const line of out) {
      const [where, time, name] = line.split(' ');
      expect(name).toBe(where);
      expect(time).toBe(`t${where?.split('@')[1]}`);
    }
    const order = out.map((line) => line.split(' ')[0]);
    expect(order.slice(0, 4)).toEqual(['0/s0@0', '0/s0@1', '0/s0@2', '0/s1@0']);
    expect(order.at(-1)).toBe('1/s2@2');
    expect(order).toEqual([...order].sort());
    expect(flushed(held)).toEqual([]);
  });

  it('orders a few results among high series numbers the same way', () => {
    const held = new HeldResults();
    held.add(1, 900_000, 'a', 0, packed('1/900000@0'));
    held.add(0, 700_000, 'b', 0, packed('0/700000@0'));
    held.add(1, 5, 'c', 0, packed('1/5@0'));
    held.add(0, 700_000, 'b', MINUTE, packed('0/700000@1'));
    expect(held.length).toBe(4);
    expect(flushed(held).map((line) => line.split(' ')[2])).toEqual([
      '0/700000@0',
      '0/700000@1',
      '1/5@0',
      '1/900000@0',
    ]);
    expect(held.length).toBe(0);
  });

  it('grows past its first room, and orders by the series number, not the key', () => {
    const held = new HeldResults();
    for (let i = 0; i < 5000; i++) held.add(0, 4999 - i, `k${i}`, 0, packed(`n${4999 - i}`));
    const names = flushed(held).map((line) => line.split(' ')[2]);
    expect(names).toEqual(Array.from({ length: 5000 }, (_, i) => `n${i}`));
  });
});
