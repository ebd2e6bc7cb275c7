import { describe, expect, it } from 'vitest';
import { observeSampled } from '../../topology/metrics.js';

describe('observeSampled', () => {
  const observed = (times: number[], now: number) => {
    const values: number[] = [];
    observeSampled({ observe: (v) => values.push(v) }, now, Float64Array.from(times), times.length);
    return values;
  };

  it('observes every row of a small write, in seconds from event time to now', () => {
    expect(observed([1000, 2000, 3500], 4000)).toEqual([3, 2, 0.5]);
    expect(observed([], 4000)).toEqual([]);
  });

  it('observes about 20 rows of a large write, spread from its first row to its last ones', () => {
    const times = Array.from({ length: 100_000 }, (_, i) => i * 1000);
    const values = observed(times, 100_000 * 1000);
    expect(values.length).toBeGreaterThanOrEqual(20);
    expect(values.length).toBeLessThanOrEqual(21);
    expect(values[0]).toBe(100_000);
    // The last observed row is within the last twentieth of the write.
    expect(values.at(-1)).toBeLessThanOrEqual(5000 + 1);
  });
});
