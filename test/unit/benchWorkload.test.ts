import { describe, expect, it } from 'vitest';
import { startWithinDay } from '../../bench/throughput.js';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

describe('the bench workload', () => {
  it('ends now (to the 10 s) when its span stays within the UTC day', () => {
    const now = at('2026-12-04T15:20:07.500Z');
    expect(startWithinDay(now, 2_000_000)).toBe(at('2026-12-04T15:20:00Z') - 2_000_000);
  });

  it('ends at the last midnight when it would cross it: its rows are one partition of the day-partitioned table', () => {
    const now = at('2026-12-05T00:12:10Z');
    const start = startWithinDay(now, 2_000_000);
    expect(start + 2_000_000).toBe(at('2026-12-05T00:00:00Z'));
    expect(Math.floor(start / DAY)).toBe(Math.floor((start + 2_000_000 - 1) / DAY));
  });

  it('starts at midnight when it ends now just after it', () => {
    const now = at('2026-12-05T00:33:20Z');
    expect(startWithinDay(now, 2_000_000)).toBe(at('2026-12-05T00:00:00Z'));
  });
});
