import { describe, expect, it } from 'vitest';
import { hashKey, SeriesCache } from '../../collector/seriesCache.js';

const bytes = (text: string) => Buffer.from(text);

describe('SeriesCache', () => {
  it('finds a value only under exactly the bytes it was stored with, however they are split', () => {
    const cache = new SeriesCache<string>(10);
    const body = bytes('xx name"{"a":"1"} yy');
    // The same hash on purpose: only the bytes tell keys apart.
    const hash = 42;
    cache.set(hash, body, 3, 7, body, 8, 17, 'first');
    expect(cache.get(hash, bytes('name'), 0, 4, bytes('{"a":"1"}'), 0, 9)).toBe('first');
    expect(cache.get(hash, bytes('name'), 0, 4, bytes('{"a":"2"}'), 0, 9)).toBeUndefined();
    expect(cache.get(hash, bytes('nam'), 0, 3, bytes('e{"a":"1"}'), 0, 10)).toBeUndefined();
    expect(cache.get(hash, bytes('name'), 0, 4, bytes('{"a":"1"} '), 0, 10)).toBeUndefined();
    expect(cache.get(43, bytes('name'), 0, 4, bytes('{"a":"1"}'), 0, 9)).toBeUndefined();
    // A key with the same hash replaces the one before.
    cache.set(hash, bytes('other'), 0, 5, bytes(''), 0, 0, 'second');
    expect(cache.get(hash, bytes('name'), 0, 4, bytes('{"a":"1"}'), 0, 9)).toBeUndefined();
    expect(cache.get(hash, bytes('other'), 0, 5, bytes(''), 0, 0)).toBe('second');
  });

  it('starts over once it holds its limit of keys', () => {
    const cache = new SeriesCache<number>(3);
    const keys = ['a', 'b', 'c', 'd'].map(bytes);
    keys.forEach((k, i) => cache.set(hashKey(k, 0, 1, k, 1, 1), k, 0, 1, k, 1, 1, i));
    const found = keys.map((k) => cache.get(hashKey(k, 0, 1, k, 1, 1), k, 0, 1, k, 1, 1));
    expect(found).toEqual([undefined, undefined, undefined, 3]);
  });

  it('hashes the same bytes the same wherever they lie, and tells the split apart', () => {
    const one = bytes('__name__up{"job":"api"}');
    const two = bytes('....__name__up{"job":"api"}');
    expect(hashKey(one, 0, 10, one, 10, one.length)).toBe(hashKey(two, 4, 14, two, 14, two.length));
    expect(hashKey(one, 0, 10, one, 10, one.length)).not.toBe(hashKey(one, 0, 9, one, 9, one.length));
    expect(hashKey(one, 0, 10, one, 10, one.length)).toBeLessThan(2 ** 30);
  });
});
