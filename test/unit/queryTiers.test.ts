import { describe, expect, it } from 'vitest';
import { planTier, type TierPolicy } from '../../query/tiers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = 1_800_000_000_000;
const policy: TierPolicy = {
  nowMs: NOW,
  rawRetentionMs: 7 * 24 * HOUR,
  tiers: [
    { name: '1m', sizeMs: MIN, retentionMs: 30 * 24 * HOUR, settleMs: 2 * MIN },
    { name: '1h', sizeMs: HOUR, retentionMs: 365 * 24 * HOUR, settleMs: 15 * MIN },
  ],
};
const request = (times: number[], rangeMs = 5 * MIN) => ({
  func: 'avg_over_time',
  matchers: [{ name: '__name__', type: '=' as const, value: 'x' }],
  rangeMs,
  times,
});

describe('planTier', () => {
  const t = NOW - 3 * HOUR;

  it('answers aligned, settled instants at a step of a minute or more from the coarsest exact tier', () => {
    expect(planTier(request([t, t + 5 * MIN]), policy)).toMatchObject({ tier: '1m', exact: true });
    expect(planTier(request([t, t + HOUR], HOUR), policy)).toMatchObject({ tier: '1h', exact: true });
  });

  it('answers one aligned instant from a tier too: the newest chunk of a range query may hold just one', () => {
    expect(planTier(request([t]), policy)).toMatchObject({ tier: '1m', exact: true });
  });

  it('keeps steps under a minute, unaligned instants and unsettled windows on raw samples', () => {
    expect(planTier(request([t, t + 30_000]), policy)).toBeUndefined();
    expect(planTier(request([t + 7_000]), policy)).toBeUndefined();
    expect(planTier(request([NOW - MIN]), policy)).toBeUndefined();
  });
});
