import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  partitionBatchOf,
  type DecodedBatch,
  type DecodedRecord,
  type SourceRecord,
} from '../../core/records.js';
import { decodedBatchOf } from '../../operators/decodeRecords.js';
import { seriesId } from '../../core/series.js';
import { defaultLimits } from '../../core/validate.js';
import { validateSamples } from '../../operators/validateSamples.js';
import type { Sample } from '../../schemas/index.js';
import { rowsOf } from '../../core/sampleColumns.js';
import { decodedOf, DecodedColumns } from '../../schemas/decodedSamples.js';
import { decodeSampleBatch } from '../../schemas/decodeBatch.js';
import { batchType } from '../../schemas/index.js';
import { validateSamples as validateWith } from '../../operators/validateSamples.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

function source(offset: number): SourceRecord {
  return {
    offset,
    key: Buffer.from(`k${offset}`),
    value: Buffer.from([0, 0, 0, 0, 1, offset]),
    headers: { h: String(offset) },
  };
}

function ok(name: string, labels: Record<string, string>, value: number): Sample {
  return { name, labels, timestamp: NOW - 1000, value, kind: 'gauge' };
}

function batch(records: DecodedRecord[]): DecodedBatch {
  return decodedBatchOf(
    { topic: 'metrics', partition: 2, firstOffset: 100, lastOffset: 104, generation: 1 },
    records,
  );
}

const validate = (b: DecodedBatch) => firstValueFrom(of(b).pipe(validateSamples(defaultLimits, () => NOW)));

describe('validateSamples', () => {
  it('turns valid samples into rows carrying the record offset and the series id', async () => {
    const a = ok('cpu_usage_percent', { host: 'h1', cpu: 'total' }, 1.5);
    const b = ok('cpu_usage_percent', { host: 'h1', cpu: 'total' }, 2.5);
    const c = ok('load_average_1m', { host: 'h2' }, 0.25);
    const out = await validate(
      batch([
        { offset: 100, record: source(100), samples: decodedOf([a, b]) },
        { offset: 101, record: source(101), samples: decodedOf([c]) },
      ]),
    );
    const cpuLabels: Array<[string, string]> = [
      ['cpu', 'total'],
      ['host', 'h1'],
    ];
    const cpuId = seriesId('cpu_usage_percent', cpuLabels);
    // Columns: each series described once, its samples by index.
    expect(out.samples.series.map((s) => s.name)).toEqual(['cpu_usage_percent', 'load_average_1m']);
    expect([...out.samples.seriesIndex]).toEqual([0, 0, 1]);
    expect({ ...out, samples: rowsOf(out.samples) }).toEqual({
      recordCount: 2,
      generation: 1,
      topic: 'metrics',
      partition: 2,
      firstOffset: 100,
      lastOffset: 104,
      rejects: [],
      samples: [
        {
          name: 'cpu_usage_percent',
          labels: cpuLabels,
          timestamp: NOW - 1000,
          value: 1.5,
          kind: 'gauge',
          seriesId: cpuId,
          seriesKey: cpuId.toString(),
          offset: 100,
        },
        {
          name: 'cpu_usage_percent',
          labels: cpuLabels,
          timestamp: NOW - 1000,
          value: 2.5,
          kind: 'gauge',
          seriesId: cpuId,
          seriesKey: cpuId.toString(),
          offset: 100,
        },
        {
          name: 'load_average_1m',
          labels: [['host', 'h2']],
          timestamp: NOW - 1000,
          value: 0.25,
          kind: 'gauge',
          seriesId: seriesId('load_average_1m', [['host', 'h2']]),
          seriesKey: seriesId('load_average_1m', [['host', 'h2']]).toString(),
          offset: 101,
        },
      ],
    });
  });

  it('gives consecutive samples with different labels their own series ids', async () => {
    const out = await validate(
      batch([
        {
          offset: 100,
          record: source(100),
          samples: decodedOf([
            ok('up', { job: 'a' }, 1),
            ok('up', { job: 'b' }, 1),
            ok('up', { job: 'b' }, 0),
            ok('down', { job: 'b' }, 0),
          ]),
        },
      ]),
    );
    expect(rowsOf(out.samples).map((r) => r.seriesId)).toEqual([
      seriesId('up', [['job', 'a']]),
      seriesId('up', [['job', 'b']]),
      seriesId('up', [['job', 'b']]),
      seriesId('down', [['job', 'b']]),
    ]);
  });

  it('keeps the good samples of a batch record and dead-letters the record once, naming the bad ones', async () => {
    const rec = source(102);
    const samples = [
      ok('good_one', {}, 1),
      ok('bad name', {}, 2),
      ok('good_two', {}, 3),
      { ...ok('nan_value', {}, 0), value: NaN },
    ];
    const out = await validate(batch([{ offset: 102, record: rec, samples: decodedOf(samples) }]));
    expect(rowsOf(out.samples).map((r) => [r.name, r.offset])).toEqual([
      ['good_one', 102],
      ['good_two', 102],
    ]);
    expect(out.rejects).toEqual([
      {
        topic: 'metrics',
        partition: 2,
        offset: 102,
        key: rec.key,
        value: rec.value,
        headers: rec.headers,
        stage: 'validate',
        reason:
          'sample 1: invalid metric name "bad name"; sample 3: value NaN of nan_value is not finite (2 of 4 samples stored)',
      },
    ]);
  });

  it('names a single-sample record without an index and without a summary', async () => {
    const out = await validate(
      batch([{ offset: 103, record: source(103), samples: decodedOf([ok('', {}, 1)]) }]),
    );
    expect(out.samples.length).toBe(0);
    expect(out.rejects.map((r) => [r.offset, r.stage, r.reason])).toEqual([
      [103, 'validate', 'empty metric name'],
    ]);
  });

  it('lists at most five reasons, then an ellipsis', async () => {
    const samples = [...Array.from({ length: 6 }, () => ok('', {}, 1)), ok('fine', {}, 1)];
    const out = await validate(batch([{ offset: 100, record: source(100), samples: decodedOf(samples) }]));
    expect(out.rejects[0]?.reason).toBe(
      'sample 0: empty metric name; sample 1: empty metric name; sample 2: empty metric name; ' +
        'sample 3: empty metric name; sample 4: empty metric name; … (1 of 7 samples stored)',
    );
  });

  it('dead-letters a decode failure with stage decode and its reason', async () => {
    const rec = source(104);
    const out = await validate(batch([{ offset: 104, record: rec, error: 'unknown schema id 9' }]));
    expect(out.samples.length).toBe(0);
    expect(out.rejects).toEqual([
      {
        topic: 'metrics',
        partition: 2,
        offset: 104,
        key: rec.key,
        value: rec.value,
        headers: rec.headers,
        stage: 'decode',
        reason: 'unknown schema id 9',
      },
    ]);
  });

  it('reads now once per batch from the injected clock', async () => {
    let calls = 0;
    const clock = () => {
      calls++;
      return NOW;
    };
    const samples = [ok('a', {}, 1), ok('b', {}, 1), { ...ok('c', {}, 1), timestamp: NOW + 3_600_000 }];
    const out = await firstValueFrom(
      of(batch([{ offset: 100, record: source(100), samples: decodedOf(samples) }])).pipe(
        validateSamples(defaultLimits, clock),
      ),
    );
    expect(calls).toBe(1);
    expect(out.rejects[0]?.reason).toBe(
      'sample 2: timestamp 2024-01-15T13:00:00.000Z of c is more than 600000 ms ahead (2 of 3 samples stored)',
    );
  });

  it("judges the decoder's shared series parts by its own limits, whichever validation saw them before", async () => {
    // Decoded by the fast decoder: one part per series, shared by its samples and frozen labels.
    const samples = [
      ok('cpu_usage_percent', { host: 'h1', cpu: 'total' }, 1),
      ok('cpu_usage_percent', { host: 'h1', cpu: 'total' }, 2),
      ok('cpu_usage_percent', { cpu: 'total', host: 'h1' }, 3),
    ];
    const columns = new DecodedColumns();
    decodeSampleBatch(batchType.toBuffer({ samples }), 0, columns);
    // The decoder's columns as they are (the first two samples share one part, the third has its own).
    expect(columns.part[0]).toBe(columns.part[1]);
    const decoded: DecodedBatch = {
      ...partitionBatchOf({ topic: 'metrics', partition: 2, lastOffset: 100, generation: 1 }, [source(100)]),
      firstOffset: 100,
      columns,
      ends: Int32Array.of(columns.length),
      errors: undefined,
    };
    const strict = validateWith({ ...defaultLimits, maxLabels: 1 }, () => NOW);
    const lenient = validateWith(defaultLimits, () => NOW);
    const strictly = () => firstValueFrom(of(decoded).pipe(strict));
    const leniently = () => firstValueFrom(of(decoded).pipe(lenient));
    for (let round = 0; round < 2; round++) {
      const a = await strictly();
      expect([a.samples.length, a.rejects.length]).toEqual([0, 1]);
      const b = await leniently();
      expect([b.samples.length, b.rejects.length]).toEqual([3, 0]);
      expect(rowsOf(b.samples).map((r) => r.seriesId)).toEqual(
        Array(3).fill(
          seriesId('cpu_usage_percent', [
            ['cpu', 'total'],
            ['host', 'h1'],
          ]),
        ),
      );
    }
  });
});
