import type { Producer } from 'kafkajs';
import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { partitionForSeries } from '../../core/partitioner.js';
import { partitionBatchOf, type ProcessedBatch, type SampleRow } from '../../core/records.js';
import {
  decodeOrigins,
  encodeOrigins,
  REPARTITION_HEADERS,
  repartitionRecords,
} from '../../core/repartition.js';
import { seriesId } from '../../core/series.js';
import { decodeRecords } from '../../operators/decodeRecords.js';
import { readRepartitioned } from '../../operators/readRepartitioned.js';
import { batchType, type Sample } from '../../schemas/index.js';
import { sendRepartitioned } from '../../sinks/repartition.js';
import { columnsOf, rowsOf } from '../../core/sampleColumns.js';

const PARTITIONS = 4;

function row(series: number, offset: number, timestamp: number): SampleRow {
  const labels: Array<[string, string]> = [
    ['host', `h${series}`],
    ['region', 'eu'],
  ];
  const id = seriesId('cpu_usage_percent', labels);
  return {
    name: 'cpu_usage_percent',
    labels,
    timestamp,
    value: series + timestamp / 1000,
    kind: 'gauge',
    seriesId: id,
    seriesKey: id.toString(),
    offset,
  };
}

function batch(partition: number, rows: SampleRow[]): ProcessedBatch {
  const offsets = rows.map((r) => r.offset);
  return {
    recordCount: new Set(offsets).size,
    generation: 1,
    topic: 'metrics',
    partition,
    firstOffset: Math.min(...offsets),
    lastOffset: Math.max(...offsets),
    samples: columnsOf(rows),
    rejects: [],
  };
}

/** Input records of 3 samples each, series taken in turn from 40: every target gets several series. */
function inputBatch(partition: number, firstOffset: number, records: number): ProcessedBatch {
  const rows: SampleRow[] = [];
  for (let o = firstOffset; o < firstOffset + records; o++)
    for (let i = 0; i < 3; i++) rows.push(row((o * 3 + i) % 40, o, 1_000_000 + o * 1000 + i));
  return batch(partition, rows);
}

describe('repartitionRecords', () => {
  it('routes every sample to the partition of its series id, keeping input order per input and target partition', () => {
    const batches = [inputBatch(0, 100, 20), inputBatch(1, 7, 20), inputBatch(0, 120, 20)];
    const records = repartitionRecords(batches, PARTITIONS);
    for (const r of records) {
      for (const x of r.rows) expect(partitionForSeries(x.seriesId, PARTITIONS)).toBe(r.partition);
    }
    for (const source of [0, 1]) {
      for (let target = 0; target < PARTITIONS; target++) {
        const routed = records
          .filter((r) => r.source === source && r.partition === target)
          .flatMap((r) => r.rows);
        const expected = batches
          .filter((b) => b.partition === source)
          .flatMap((b) => rowsOf(b.samples))
          .filter((x) => partitionForSeries(x.seriesId, PARTITIONS) === target);
        expect(routed).toEqual(expected);
      }
    }
    // One record per input partition and target partition while they fit.
    expect(records).toHaveLength(2 * PARTITIONS);
  });

  it('cuts records at a size, never inside the samples of one input record', () => {
    const records = repartitionRecords([inputBatch(2, 0, 200)], 1, 1000);
    expect(records.length).toBeGreaterThan(5);
    for (let i = 1; i < records.length; i++) {
      const before = records[i - 1]!.rows;
      expect(records[i]!.rows[0]!.offset).toBeGreaterThan(before[before.length - 1]!.offset);
    }
    expect(records.flatMap((r) => r.rows)).toHaveLength(600);
  });
});

describe('origins', () => {
  it('encodes input offsets as runs of offset differences and decodes them back', () => {
    const rows = [5, 5, 5, 6, 9, 9, 1000].map((o) => row(1, o, 0));
    const text = encodeOrigins(rows);
    expect(text).toBe('5:3,1:1,3:2,991:1');
    const origins = decodeOrigins(text, 3, rows.length);
    expect(origins).toEqual(rows.map((r) => ({ partition: 3, offset: r.offset })));
  });

  it.each([
    ['', 'malformed run'],
    ['5:0', 'malformed run'],
    ['x:1', 'malformed run'],
    ['5:2,0:1', 'repeated offset'],
    ['5:2', 'describes 2 samples, the record holds 3'],
    ['5:2,1:9', 'describes 11 samples, the record holds 3'],
  ])('refuses %j', (text, reason) => {
    expect(decodeOrigins(text, 0, 3)).toContain(reason);
  });
});

describe('repartition round trip', () => {
  it('reads back from the repartition records every sample with its series id and origin', async () => {
    const sent: Array<{ partition?: number; value: Buffer; headers: Record<string, string> }> = [];
    const producer = {
      send: async ({ messages }: { messages: typeof sent }) => {
        sent.push(...messages);
        return [];
      },
    } as unknown as Producer;
    const batches = [inputBatch(0, 100, 10), inputBatch(1, 7, 10)];
    const samples = await sendRepartitioned(
      producer,
      { topic: 'r', partitions: PARTITIONS, schemaId: 9 },
      batches,
    );
    expect(samples).toBe(60);

    const read: SampleRow[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const records = sent
        .filter((m) => m.partition === p)
        .map((m, offset) => ({
          offset,
          key: null,
          value: m.value,
          headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)])),
        }));
      const fetched = partitionBatchOf(
        { topic: 'r', partition: p, lastOffset: records.length - 1, generation: 1 },
        records,
      );
      const out = await firstValueFrom(
        of(fetched).pipe(
          decodeRecords(async () => batchType),
          readRepartitioned(),
        ),
      );
      expect(out.rejects).toEqual([]);
      const rows = rowsOf(out.samples);
      for (const r of rows) expect(partitionForSeries(r.seriesId, PARTITIONS)).toBe(p);
      read.push(...rows);
    }
    // As they came in, each with its origin; only the offset differs (the repartition topic's).
    const expected = batches.flatMap((b) =>
      rowsOf(b.samples).map((r) => ({ ...r, origin: { partition: b.partition, offset: r.offset } })),
    );
    const order = (x: SampleRow, y: SampleRow) =>
      x.origin!.partition - y.origin!.partition ||
      x.origin!.offset - y.origin!.offset ||
      x.timestamp - y.timestamp;
    const comparable = (r: SampleRow) => ({ ...r, offset: 0 });
    expect(read.sort(order).map(comparable)).toEqual(expected.sort(order).map(comparable));
  });

  it('rejects a record without its origin headers', async () => {
    const value = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), batchType.toBuffer({ samples: [] })]);
    const fetched = partitionBatchOf({ topic: 'r', partition: 0, lastOffset: 4, generation: 1 }, [
      { offset: 4, key: null, value, headers: { [REPARTITION_HEADERS.partition]: Buffer.from('1') } },
    ]);
    const out = await firstValueFrom(
      of(fetched).pipe(
        decodeRecords(async () => batchType),
        readRepartitioned(),
      ),
    );
    expect(out.samples.length).toBe(0);
    expect(out.rejects).toMatchObject([
      { offset: 4, stage: 'decode', reason: expect.stringContaining('without its origin') },
    ]);
  });

  it("keeps each record's own offset and samples around a record that cannot be read", async () => {
    const frame = (samples: Sample[]) =>
      Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), batchType.toBuffer({ samples })]);
    const sample = (value: number): Sample => ({
      name: 'm',
      labels: { a: 'b' },
      timestamp: 1_000 * value,
      value,
      kind: 'gauge',
    });
    const origin = (partition: string, offsets: string) => ({
      [REPARTITION_HEADERS.partition]: Buffer.from(partition),
      [REPARTITION_HEADERS.offsets]: Buffer.from(offsets),
    });
    const records = [
      { offset: 20, key: null, value: frame([sample(1), sample(2)]), headers: origin('1', '5:1,1:1') },
      { offset: 21, key: Buffer.from('k'), value: Buffer.from([1, 2, 3]), headers: origin('1', '7:1') },
      { offset: 22, key: null, value: frame([sample(3)]), headers: origin('2', '9:1') },
    ];
    const fetched = partitionBatchOf({ topic: 'r', partition: 0, lastOffset: 22, generation: 1 }, records);
    const out = await firstValueFrom(
      of(fetched).pipe(
        decodeRecords(async () => batchType),
        readRepartitioned(),
      ),
    );
    expect(rowsOf(out.samples).map((r) => [r.value, r.offset, r.origin])).toEqual([
      [1, 20, { partition: 1, offset: 5 }],
      [2, 20, { partition: 1, offset: 6 }],
      [3, 22, { partition: 2, offset: 9 }],
    ]);
    expect(out.rejects).toMatchObject([{ offset: 21, key: Buffer.from('k'), value: Buffer.from([1, 2, 3]) }]);
  });
});
