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

describe('planTier with a configured 5m tier', () => {
  const t = NOW - 3 * HOUR;
  const withFive: TierPolicy = {
    ...policy,
    tiers: [
      { name: '1m', sizeMs: MIN, retentionMs: 30 * 24 * HOUR, settleMs: 2 * MIN },
      { name: '5m', sizeMs: 5 * MIN, retentionMs: 90 * 24 * HOUR, settleMs: 5 * MIN },
      { name: '1h', sizeMs: HOUR, retentionMs: 365 * 24 * HOUR, settleMs: 15 * MIN },
    ],
  };

  it('answers ranges and instants that are multiples of 5 minutes exactly from it, others from 1m', () => {
    expect(planTier(request([t, t + 5 * MIN]), withFive)).toMatchObject({ tier: '5m', exact: true });
    expect(planTier(request([t, t + 10 * MIN], 15 * MIN), withFive)).toMatchObject({
      tier: '5m',
      exact: true,
    });
    expect(planTier(request([t, t + MIN]), withFive)).toMatchObject({ tier: '1m', exact: true });
    expect(planTier(request([t, t + 5 * MIN], 3 * MIN), withFive)).toMatchObject({ tier: '1m', exact: true });
    // Coarsest aligned still wins.
    expect(planTier(request([t, t + HOUR], HOUR), withFive)).toMatchObject({ tier: '1h', exact: true });
    // Without the tier the same query reads 1m windows: the choice follows the configuration.
    expect(planTier(request([t, t + 5 * MIN]), policy)).toMatchObject({ tier: '1m', exact: true });
  });

  it('beyond raw retention takes the finest tier that still holds the range, and can be forced by name', () => {
    const old = Math.floor((NOW - 60 * 24 * HOUR) / HOUR) * HOUR;
    expect(planTier(request([old, old + 5 * MIN]), withFive)).toMatchObject({ tier: '5m', exact: false });
    const older = Math.floor((NOW - 100 * 24 * HOUR) / HOUR) * HOUR;
    expect(planTier(request([older, older + HOUR], HOUR), withFive)).toMatchObject({
      tier: '1h',
      exact: false,
    });
    expect(planTier(request([t, t + 5 * MIN]), { ...withFive, forced: '5m' })).toMatchObject({
      tier: '5m',
      exact: true,
    });
    expect(planTier(request([t, t + 5 * MIN]), { ...withFive, forced: 'raw' })).toBeUndefined();
  });
});
