import { describe, expect, it } from 'vitest';
import { defaultLimits, normalizeSample, type ValidationLimits } from '../../core/validate.js';
import type { Sample } from '../../schemas/index.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const limits: ValidationLimits = {
  ...defaultLimits,
  maxLabels: 3,
  maxLabelValueLength: 8,
  maxPastMs: 3_600_000,
  maxFutureMs: 60_000,
};

function sample(over: Partial<Sample> = {}): Sample {
  return {
    name: 'http_requests_total',
    labels: { method: 'GET' },
    timestamp: NOW,
    value: 1,
    kind: 'counter',
    ...over,
  };
}

describe('normalizeSample', () => {
  it('sorts labels by name and drops labels with an empty value', () => {
    const out = normalizeSample(
      sample({ labels: { status: '200', method: 'GET', zone: '', code: 'x' }, value: 12.5, kind: 'gauge' }),
      limits,
      NOW,
    );
    expect(out).toEqual({
      name: 'http_requests_total',
      labels: [
        ['code', 'x'],
        ['method', 'GET'],
        ['status', '200'],
      ],
      timestamp: NOW,
      value: 12.5,
      kind: 'gauge',
    });
  });

  it('counts labels after dropping the empty ones', () => {
    const out = normalizeSample(sample({ labels: { a: '1', b: '2', c: '3', d: '' } }), limits, NOW);
    expect(typeof out === 'string' ? out : out.labels.length).toBe(3);
  });

  it('accepts the edges of the time window', () => {
    expect(normalizeSample(sample({ timestamp: NOW - limits.maxPastMs }), limits, NOW)).toMatchObject({
      timestamp: NOW - 3_600_000,
    });
    expect(normalizeSample(sample({ timestamp: NOW + limits.maxFutureMs }), limits, NOW)).toMatchObject({
      timestamp: NOW + 60_000,
    });
  });

  it.each<[string, Partial<Sample>, string]>([
    ['an empty name', { name: '' }, 'empty metric name'],
    ['an invalid metric name', { name: '1xx-rate' }, 'invalid metric name "1xx-rate"'],
    ['NaN', { value: NaN }, 'value NaN of http_requests_total is not finite'],
    ['+Infinity', { value: Infinity }, 'value Infinity of http_requests_total is not finite'],
    ['-Infinity', { value: -Infinity }, 'value -Infinity of http_requests_total is not finite'],
    [
      'a non-integer timestamp',
      { timestamp: NOW + 0.5 },
      `timestamp ${NOW + 0.5} of http_requests_total is not an integer of ms`,
    ],
    [
      'a timestamp too old',
      { timestamp: NOW - 3_600_001 },
      'timestamp 2024-01-15T10:59:59.999Z of http_requests_total is older than the accepted 3600000 ms',
    ],
    [
      'a timestamp too far ahead',
      { timestamp: NOW + 60_001 },
      'timestamp 2024-01-15T12:01:00.001Z of http_requests_total is more than 60000 ms ahead',
    ],
    [
      'an invalid label name',
      { labels: { 'status-code': '200' } },
      'invalid label name "status-code" on http_requests_total',
    ],
    [
      'a reserved label name',
      { labels: { __name__: 'x' } },
      'label name __name__ on http_requests_total is reserved (starts with __)',
    ],
    [
      'too many labels',
      { labels: { a: '1', b: '2', c: '3', d: '4' } },
      '4 labels on http_requests_total, more than 3',
    ],
    [
      'a too long label value',
      { labels: { path: '/a/b/c/d/e' } },
      'value of label path on http_requests_total longer than 8',
    ],
  ])('rejects %s', (_what, over, reason) => {
    expect(normalizeSample(sample(over), limits, NOW)).toBe(reason);
  });

  it('rejects a metric name longer than the limit', () => {
    expect(
      normalizeSample(sample({ name: 'a'.repeat(11) }), { ...limits, maxMetricNameLength: 10 }, NOW),
    ).toBe('metric name longer than 10');
  });

  it('rejects a label name longer than the limit', () => {
    expect(
      normalizeSample(sample({ labels: { abcdef: 'x' } }), { ...limits, maxLabelNameLength: 5 }, NOW),
    ).toBe('label name on http_requests_total longer than 5');
  });

  it('reads the time window from the injected now, not the clock', () => {
    const past = Date.UTC(2001, 0, 1);
    expect(normalizeSample(sample({ timestamp: past }), limits, past)).toMatchObject({ timestamp: past });
  });
});
