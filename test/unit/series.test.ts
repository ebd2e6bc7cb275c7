import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriesId } from '../../core/series.js';
import { defaultLimits, normalizeSample } from '../../core/validate.js';
import type { Sample } from '../../schemas/index.js';

const NOW = Date.UTC(2024, 0, 15);

/** The series id of a sample as the pipeline computes it: normalize (sort, drop empty), then hash. */
function idOf(name: string, labels: Record<string, string>): bigint {
  const sample: Sample = { name, labels, timestamp: NOW, value: 1, kind: 'gauge' };
  const normalized = normalizeSample(sample, defaultLimits, NOW);
  if (typeof normalized === 'string') throw new Error(normalized);
  return seriesId(normalized.name, normalized.labels);
}

/** Cases hashed both here and by ClickHouse; the last one outgrows the 4 KiB scratch buffer. */
const cases: Array<[string, Array<[string, string]>]> = [
  ['up', []],
  [
    'http_requests_total',
    [
      ['method', 'GET'],
      ['status', '200'],
    ],
  ],
  [
    'temp_celsius',
    [
      ['city', 'Zürich'],
      ['sensor', '東京 🌡'],
    ],
  ],
  ['quote_test', [['q', `it's "quoted" \\ back\tslash\n`]]],
  [
    'big_labels',
    [
      ['a', 'x'.repeat(3000)],
      ['b', 'ü'.repeat(1500)],
    ],
  ],
];

describe('seriesId', () => {
  it('is a pinned value: the same input gives the same id in every process and release', () => {
    expect(
      seriesId('http_requests_total', [
        ['method', 'GET'],
        ['status', '200'],
      ]),
    ).toBe(12577600325076761974n);
    expect(seriesId('up', [])).toBe(2571373012096355983n);
    expect(
      seriesId('temp_celsius', [
        ['city', 'Zürich'],
        ['sensor', '東京'],
      ]),
    ).toBe(5563771096515732445n);
  });

  it('stays the same after hashing an input larger than its scratch buffer', () => {
    const before = seriesId('up', []);
    seriesId('big_labels', [['a', 'x'.repeat(10_000)]]);
    expect(seriesId('up', [])).toBe(before);
    expect(before).toBe(2571373012096355983n);
  });

  it('does not depend on the order labels were written in, via normalizeSample', () => {
    const forward = idOf('http_requests_total', { method: 'GET', status: '200', host: 'h1' });
    const backward = idOf('http_requests_total', { host: 'h1', status: '200', method: 'GET' });
    expect(forward).toBe(backward);
    expect(forward).toBe(
      seriesId('http_requests_total', [
        ['host', 'h1'],
        ['method', 'GET'],
        ['status', '200'],
      ]),
    );
  });

  it('ignores labels with an empty value, via normalizeSample', () => {
    expect(idOf('up', { job: 'api', zone: '' })).toBe(idOf('up', { job: 'api' }));
  });

  it('differs for different label values, names and metric names', () => {
    const ids = new Set([
      idOf('up', { job: 'api' }),
      idOf('up', { job: 'web' }),
      idOf('up', { task: 'api' }),
      idOf('down', { job: 'api' }),
      idOf('up', {}),
      // The separator keeps ("ab","c") apart from ("a","bc").
      seriesId('m', [['ab', 'c']]),
      seriesId('m', [['a', 'bc']]),
    ]);
    expect(ids.size).toBe(7);
  });

  it('hashes UTF-8 bytes as written: no folding, no Unicode normalization (as in ClickHouse)', () => {
    const nfc = seriesId('temp', [['city', 'Z\u00fcrich']]);
    expect(nfc).not.toBe(seriesId('temp', [['city', 'Zurich']]));
    expect(nfc).not.toBe(seriesId('temp', [['city', 'Zu\u0308rich']]));
    expect(nfc).toBe(seriesId('temp', [['city', 'Zürich']]));
  });

  describe("equals ClickHouse's xxHash64(arrayStringConcat([metric, k1, v1, …], '\\xff'))", () => {
    let client: ClickHouseClient;

    beforeAll(() => {
      // chdb and @clickhouse/client each bundle a copy of the same Connection types.
      client = createClient({ connection: createChdbConnection({ path: ':memory:' }) as never });
    });

    afterAll(async () => {
      await client.close();
    });

    it.each(cases)('for %s', async (name, labels) => {
      const parts = [name, ...labels.flat()];
      const result = await client.query({
        query: "SELECT toString(xxHash64(arrayStringConcat({parts: Array(String)}, '\\xff'))) AS id",
        query_params: { parts },
        format: 'JSONEachRow',
      });
      const rows = await result.json<{ id: string }>();
      expect(rows).toEqual([{ id: seriesId(name, labels).toString() }]);
    });
  });
});
