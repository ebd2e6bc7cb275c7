import { describe, expect, it } from 'vitest';
import { WindowMap, type WindowState } from '../../streams/windowStore.js';

const w = (key: string, start: number, revision = 0): WindowState<number> => ({
  key,
  start,
  acc: 0,
  revision,
});
const ids = (entries: Iterable<[string, WindowState<number>]>) => [...entries].map(([id]) => id);

describe('WindowMap', () => {
  it('gives the windows starting by a time, by start, each start in the order first set', () => {
    const m = new WindowMap<number>();
    m.set('b@120', w('b', 120));
    m.set('a@60', w('a', 60));
    m.set('b@60', w('b', 60));
    m.set('a@0', w('a', 0));
    m.set('a@60', w('a', 60, 1)); // a new state for a known id keeps its place
    expect(ids(m.startingBy(60))).toEqual(['a@0', 'a@60', 'b@60']);
    expect(m.startingBy(60)[1]?.[1].revision).toBe(1);
    expect(ids(m.startingBy(Infinity))).toEqual(['a@0', 'a@60', 'b@60', 'b@120']);
    expect(ids(m.startingBy(-1))).toEqual([]);
    expect(ids(m.entries())).toEqual(['b@120', 'a@60', 'b@60', 'a@0']);
  });

  it('forgets deleted windows and empty starts; a window set again goes last among its start', () => {
    const m = new WindowMap<number>();
    for (const id of ['a@0', 'b@0', 'c@0', 'a@60']) m.set(id, w(id[0] as string, Number(id.slice(2))));
    m.delete('a@0');
    m.delete('a@60');
    m.delete('nothing@0');
    expect(m.size).toBe(2);
    expect(ids(m.startingBy(1000))).toEqual(['b@0', 'c@0']);
    m.set('a@0', w('a', 0));
    expect(ids(m.startingBy(1000))).toEqual(['b@0', 'c@0', 'a@0']);
    expect(m.has('a@60')).toBe(false);
  });

  it('is a snapshot: the caller may delete while going through it', () => {
    const m = new WindowMap<number>();
    for (let s = 0; s < 5; s++) m.set(`k@${s}`, w('k', s));
    for (const [id] of m.startingBy(3)) m.delete(id);
    expect(ids(m.entries())).toEqual(['k@4']);
  });
});
