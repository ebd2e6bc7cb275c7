import { describe, expect, it } from 'vitest';
import { CommitInterval } from '../../streams/commitInterval.js';

describe('CommitInterval', () => {
  it('is due every interval while busy, and once the input has been quiet long enough', () => {
    let now = 0;
    const interval = new CommitInterval(5000, 200, () => now);
    now = 100;
    expect(interval.due(true)).toBe(false);
    now = 250;
    expect(interval.due(false)).toBe(false); // 150 ms without records: not quiet yet
    now = 300;
    expect(interval.due(false)).toBe(true); // 200 ms without records
    interval.committed();
    for (now = 1000; now < 5300; now += 1000) expect(interval.due(true)).toBe(false);
    now = 5300;
    expect(interval.due(true)).toBe(true); // busy, but an interval since the last commit
  });
});
