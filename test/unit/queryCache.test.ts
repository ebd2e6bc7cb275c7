import { describe, expect, it } from 'vitest';
import { chunkLength, splitRange } from '../../query/rangeSplit.js';
import { ResultsCache } from '../../query/resultsCache.js';

const settings = { maxBytes: 1000, ttlRecentMs: 60_000, ttlDayMs: 300_000, ttlOlderMs: 3_600_000 };
const HOUR = 3_600_000;

function counted() {
  const counts = { hit: 0, miss: 0, size: 0, expired: 0, correction: 0, bytes: 0 };
  return {
    counts,
    counters: {
      hit: () => void counts.hit++,
      miss: () => void counts.miss++,
      evicted: (reason: 'size' | 'expired' | 'correction') => void counts[reason]++,
      bytes: (n: number) => void (counts.bytes = n),
    },
  };
}

describe('range split', () => {
  it('chunks are whole steps on a grid fixed by the step and the start offset', () => {
    expect(chunkLength(15_000)).toBe(HOUR);
    expect(chunkLength(7_000)).toBe(Math.ceil(HOUR / 7_000) * 7_000);
    expect(chunkLength(5 * 60_000)).toBe(5 * HOUR);
    expect(chunkLength(HOUR)).toBe(24 * HOUR);
    expect(chunkLength(2 * 86_400_000)).toBe(2 * 86_400_000);
    const a = splitRange({ startMs: 10 * HOUR + 30_000, endMs: 16 * HOUR + 30_000, stepMs: 30_000 });
    const b = splitRange({ startMs: 10 * HOUR + 60_000, endMs: 16 * HOUR + 60_000, stepMs: 30_000 });
    expect(a.map((c) => c.startMs)).toEqual([10, 11, 12, 13, 14, 15, 16].map((h) => h * HOUR));
    // The next refresh shares every chunk but the newest.
    expect(b.map((c) => c.startMs)).toEqual(a.map((c) => c.startMs));
    expect(a[0]?.endMs).toBe(11 * HOUR - 30_000);
    // A start off the step grid gets its own grid: no chunk is shared with the aligned one.
    const off = splitRange({ startMs: 10 * HOUR + 7_000, endMs: 11 * HOUR, stepMs: 30_000 });
    expect(off[0]?.startMs).toBe(10 * HOUR + 7_000);
    expect(off.every((c) => (c.startMs - 7_000) % 30_000 === 0)).toBe(true);
  });
});

describe('results cache', () => {
  it('TTL follows the age of the data', () => {
    const cache = new ResultsCache<string>(settings, counted().counters);
    const now = 100 * HOUR;
    expect(cache.ttlFor(now - 10 * 60_000, now)).toBe(60_000);
    expect(cache.ttlFor(now - 2 * HOUR, now)).toBe(300_000);
    expect(cache.ttlFor(now - 30 * HOUR, now)).toBe(3_600_000);
  });

  it('evicts the least recently used beyond its bytes, expires by TTL, drops corrected spans', () => {
    const { counts, counters } = counted();
    const cache = new ResultsCache<string>(settings, counters);
    const now = 100 * HOUR;
    const old = { startMs: 0, endMs: 10 * HOUR };
    cache.set('a', 'A', old, 400, now);
    cache.set('b', 'B', old, 400, now);
    expect(cache.get('a', now)).toBe('A');
    cache.set('c', 'C', old, 400, now);
    // b was the least recently used.
    expect([cache.get('b', now), cache.get('a', now), cache.get('c', now)]).toEqual([undefined, 'A', 'C']);
    expect(counts).toMatchObject({ size: 1, hit: 3, miss: 1, bytes: 800 });
    expect(cache.get('a', now + 3_600_000)).toBeUndefined();
    expect(counts.expired).toBe(1);
    cache.set('recent', 'R', { startMs: now - HOUR, endMs: now - 60_000 }, 100, now);
    expect(cache.invalidate(now - 30 * 60_000, now - 29 * 60_000)).toBe(1);
    expect(cache.get('recent', now)).toBeUndefined();
    expect(counts.correction).toBe(1);
    // Larger than the whole cache: not kept.
    cache.set('huge', 'H', old, 5000, now);
    expect(cache.get('huge', now)).toBeUndefined();
  });
});
