import { describe, expect, it } from 'vitest';
import { difference, type ApiResponse, type CompatCase } from '../promql/compat.js';

const instant = (query: string): CompatCase => ({
  run: 'unit',
  query,
  kind: 'instant',
  params: { query, time: '1' },
});

const vector = (...samples: Array<[Record<string, string>, string]>): ApiResponse => ({
  status: 'success',
  data: { resultType: 'vector', result: samples.map(([metric, v]) => ({ metric, value: [1, v] })) },
});

describe('PromQL compatibility comparison', () => {
  it('agrees within 1e-9 relative, on NaN and infinities, whatever the order', () => {
    const c = instant('x');
    expect(
      difference(
        c,
        vector([{ a: '1' }, '1'], [{ a: '2' }, 'NaN']),
        vector([{ a: '2' }, 'NaN'], [{ a: '1' }, '1.0000000001']),
      ),
    ).toBeUndefined();
    expect(difference(c, vector([{}, '+Inf']), vector([{}, '+Inf']))).toBeUndefined();
  });

  it('reports different values, series, types, statuses and error types', () => {
    const c = instant('x');
    expect(difference(c, vector([{}, '1']), vector([{}, '1.000001']))).toMatch(/1 vs 1.000001/);
    expect(difference(c, vector([{}, '+Inf']), vector([{}, '-Inf']))).toBeDefined();
    expect(difference(c, vector([{ a: '1' }, '1']), vector([{ a: '2' }, '1']))).toMatch(/missing series/);
    expect(difference(c, vector([{ a: '1' }, '1'], [{ a: '2' }, '1']), vector([{ a: '1' }, '1']))).toMatch(
      /extra series/,
    );
    expect(
      difference(c, { status: 'success', data: { resultType: 'scalar', result: [1, '1'] } }, vector()),
    ).toMatch(/resultType/);
    const failed: ApiResponse = { status: 'error', errorType: 'bad_data', error: 'x' };
    expect(difference(c, failed, vector())).toMatch(/status/);
    expect(difference(c, failed, { status: 'error', errorType: 'execution', error: 'y' })).toMatch(
      /errorType/,
    );
    expect(
      difference(c, failed, { status: 'error', errorType: 'bad_data', error: 'other words' }),
    ).toBeUndefined();
  });

  it('compares the order of sort() results only', () => {
    const a = vector([{ a: '1' }, '1'], [{ a: '2' }, '2']);
    const b = vector([{ a: '2' }, '2'], [{ a: '1' }, '1']);
    expect(difference(instant('sort(x)'), a, b)).toMatch(/order/);
    expect(difference(instant('x'), a, b)).toBeUndefined();
  });
});
