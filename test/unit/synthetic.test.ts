import { describe, expect, it } from 'vitest';
import { seriesId } from '../../core/series.js';
import { defaultLimits, normalizeSample } from '../../core/validate.js';
import { prng, syntheticRecords, type SyntheticOptions } from '../../producer/synthetic.js';

const START = Date.UTC(2024, 0, 15);
const base: SyntheticOptions = {
  series: 10,
  samples: 200,
  batch: 4,
  seed: 42,
  start: START,
  intervalMs: 15_000,
};

const records = (over: Partial<SyntheticOptions> = {}) => [...syntheticRecords({ ...base, ...over })];

describe('prng', () => {
  it('is mulberry32: pinned first outputs for seed 1', () => {
    const random = prng(1);
    expect([random(), random(), random()]).toEqual([
      0.6270739405881613, 0.002735721180215478, 0.5274470399599522,
    ]);
  });
});

describe('syntheticRecords', () => {
  it('gives identical records for the same seed', () => {
    expect(records()).toEqual(records());
  });

  it('gives different values, but the same series, for a different seed', () => {
    const a = records({ seed: 1 });
    const b = records({ seed: 2 });
    expect(b.map((r) => r.key)).toEqual(a.map((r) => r.key));
    const values = (rs: typeof a) => rs.flatMap((r) => r.samples.map((s) => s.value));
    expect(values(b)).not.toEqual(values(a));
  });

  it.each([
    [10, 3, 4],
    [7, 5, 3],
    [1001, 8, 16],
    [1, 3, 4],
  ])('produces exactly %i samples from %i series in batches of %i', (samples, series, batch) => {
    const out = records({ samples, series, batch });
    expect(out.reduce((n, r) => n + r.samples.length, 0)).toBe(samples);
    expect(Math.max(...out.map((r) => r.samples.length))).toBeLessThanOrEqual(batch);
    expect(out.slice(0, -1).every((r) => r.samples.length === batch)).toBe(true);
  });

  it('puts batch consecutive samples of one series in a record, one interval apart', () => {
    const out = records({ samples: 24, series: 3, batch: 4 });
    expect(out.map((r) => r.samples.length)).toEqual([4, 4, 4, 4, 4, 4]);
    expect(out[0]?.samples.map((s) => s.timestamp)).toEqual([
      START,
      START + 15_000,
      START + 30_000,
      START + 45_000,
    ]);
    expect(out[3]?.samples[0]?.timestamp).toBe(START + 60_000);
    expect(out[3]?.key).toBe(out[0]?.key);
    for (const r of out) expect(new Set(r.samples.map((s) => s.name)).size).toBe(1);
  });

  it('keys every record by the series id of its sorted labels, as the pipeline computes it', () => {
    const out = records();
    for (const r of out) {
      const first = r.samples[0]!;
      const normalized = normalizeSample(first, defaultLimits, first.timestamp);
      if (typeof normalized === 'string') throw new Error(normalized);
      expect(r.key).toBe(seriesId(normalized.name, normalized.labels).toString());
    }
    expect(new Set(out.map((r) => r.key)).size).toBe(10);
    expect(out[0]?.samples[0]).toMatchObject({
      name: 'cpu_usage_percent',
      labels: { host: 'host-00000', region: 'eu-west-1', cpu: 'total' },
    });
  });

  it('never lets a counter go down', () => {
    const out = records({ samples: 4000, series: 16, batch: 5 });
    const last = new Map<string, number>();
    let counters = 0;
    for (const r of out) {
      for (const s of r.samples) {
        if (s.kind !== 'counter') continue;
        counters++;
        expect(s.value).toBeGreaterThanOrEqual(last.get(r.key) ?? 0);
        last.set(r.key, s.value);
      }
    }
    expect(counters).toBe(1500);
  });

  it('produces samples the pipeline accepts', () => {
    const now = START + 1000 * 15_000;
    for (const r of records({ samples: 1000 })) {
      for (const s of r.samples) expect(typeof normalizeSample(s, defaultLimits, now)).toBe('object');
    }
  });
});
