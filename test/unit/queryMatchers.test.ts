import { describe, expect, it } from 'vitest';
import { alertsSeries, type AlertTransition } from '../../query/alertHistory.js';
import { requireNonEmptyMatcher } from '../../query/matchers.js';
import type { LabelMatcher } from '../../query/promql/storage.js';

describe('RE2 patterns in the query service', () => {
  it('accepts a selector with an RE2 inline flag group, as the engine does', () => {
    const matchers: LabelMatcher[] = [
      { name: 'job', type: '=~', value: '(?i:api)' },
      { name: 'env', type: '=', value: 'prod' },
    ];
    expect(() => requireNonEmptyMatcher(matchers)).not.toThrow();
    expect(() => requireNonEmptyMatcher([{ name: 'job', type: '=~', value: '(?i:x)?' }])).toThrow(
      'vector selector must contain at least one non-empty matcher',
    );
  });

  it('selects ALERTS by an RE2 inline flag group', () => {
    const transition: AlertTransition = {
      rule: 'HighLatency',
      fingerprint: '1',
      state: 'firing',
      severity: 'page',
      labels: {},
      value: 1,
      ts: 60_000,
    };
    const series = alertsSeries(
      [transition],
      [
        { name: '__name__', type: '=', value: 'ALERTS' },
        { name: 'alertname', type: '=~', value: '(?i:high.*)' },
      ],
      0,
      120_000,
    );
    expect(series.map((s) => s.labels.alertname)).toEqual(['HighLatency']);
  });
});
