import avro from 'avsc';
import { firstValueFrom, from, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { PipelineError, RejectError } from '../../core/errors.js';
import {
  partitionBatchOf,
  type DecodedRecord,
  type PartitionBatch,
  type SourceRecord,
} from '../../core/records.js';
import { decodeRecords, decodedRecords, type WriterLookup } from '../../operators/decodeRecords.js';
import { validateSamples } from '../../operators/validateSamples.js';
import { defaultLimits } from '../../core/validate.js';
import {
  batchType,
  frame,
  sampleArrayType,
  sampleSchema,
  sampleType,
  type Sample,
} from '../../schemas/index.js';
import { samplesOf } from '../../schemas/decodedSamples.js';

const BATCH_ID = 1;
const SAMPLE_ID = 2;
const ARRAY_ID = 3;
const EVOLVED_ID = 4;
const STRING_VALUE_ID = 5;
const UNKNOWN_ID = 404;
const DOWN_ID = 503;

/** The sample schema with one more field, optional with a default: a backward-compatible writer. */
const evolvedSampleType = avro.Type.forSchema({
  ...(sampleSchema as avro.schema.RecordType),
  fields: [...(sampleSchema as avro.schema.RecordType).fields, { name: 'unit', type: 'string', default: '' }],
});

/** The sample schema with `value` as a string: no reader of ours can read it. */
const stringValueType = avro.Type.forSchema({
  ...(sampleSchema as avro.schema.RecordType),
  fields: (sampleSchema as avro.schema.RecordType).fields.map((f) =>
    f.name === 'value' ? { ...f, type: 'string' } : f,
  ),
});

const cpu: Sample = {
  name: 'cpu_usage_percent',
  labels: { host: 'a', cpu: 'total' },
  timestamp: 1_700_000_000_000,
  value: 42.5,
  kind: 'gauge',
};
const requests: Sample = {
  name: 'http_requests_total',
  labels: { method: 'GET' },
  timestamp: 1_700_000_001_000,
  value: 1234,
  kind: 'counter',
};

/** A writer lookup backed by a Map, like the registry client, counting calls per id. */
function lookupStub(): { lookup: WriterLookup; calls: Map<number, number> } {
  const writers = new Map<number, avro.Type>([
    [BATCH_ID, batchType],
    [SAMPLE_ID, sampleType],
    [ARRAY_ID, sampleArrayType],
    [EVOLVED_ID, evolvedSampleType],
    [STRING_VALUE_ID, stringValueType],
  ]);
  const calls = new Map<number, number>();
  const lookup: WriterLookup = async (id) => {
    calls.set(id, (calls.get(id) ?? 0) + 1);
    if (id === DOWN_ID)
      throw new PipelineError('schema registry http://registry is unreachable', { retriable: true });
    const writer = writers.get(id);
    if (writer === undefined) throw new RejectError(`unknown schema id ${id}`);
    return writer;
  };
  return { lookup, calls };
}

function record(offset: number, value: Buffer | null): SourceRecord {
  return { offset, key: Buffer.from('k'), value, headers: { trace: 'x' } };
}

function partitionBatch(
  records: SourceRecord[],
  lastOffset = (records.at(-1)?.offset ?? 0) + 1,
): PartitionBatch {
  return partitionBatchOf({ topic: 'metrics', partition: 3, lastOffset, generation: 1 }, records);
}

/** A decoded record with its samples as objects, to compare. */
function plain(decoded: DecodedRecord) {
  return 'samples' in decoded ? { ...decoded, samples: samplesOf(decoded.samples) } : decoded;
}

async function decodeOne(value: Buffer | null, lookup = lookupStub().lookup) {
  const decoded = await firstValueFrom(of(partitionBatch([record(7, value)])).pipe(decodeRecords(lookup)));
  expect(decoded.records).toHaveLength(1);
  return plain(decodedRecords(decoded)[0]!);
}

describe('decodeRecords', () => {
  it('decodes a batch record and keeps the partition, offsets and source record', async () => {
    const value = frame(BATCH_ID, batchType.toBuffer({ samples: [cpu, requests] }));
    const src = record(10, value);
    const out = await firstValueFrom(of(partitionBatch([src], 12)).pipe(decodeRecords(lookupStub().lookup)));
    const { columns, ends, errors, offsets, ...position } = out;
    expect({ ...position, records: decodedRecords(out).map(plain) }).toEqual({
      topic: 'metrics',
      partition: 3,
      firstOffset: 10,
      lastOffset: 12,
      generation: 1,
      records: [{ offset: 10, record: src, samples: [cpu, requests] }],
    });
    // The batch's samples in one set of columns, each record ending where `ends` says.
    expect([columns.length, [...ends], errors, [...offsets]]).toEqual([2, [2], undefined, [10]]);
    expect(out.records[0]).toBe(src);
  });

  it('decodes a single-sample record', async () => {
    expect(await decodeOne(frame(SAMPLE_ID, sampleType.toBuffer(requests)))).toMatchObject({
      offset: 7,
      samples: [requests],
    });
  });

  it('decodes a bare array of samples', async () => {
    const value = frame(ARRAY_ID, sampleArrayType.toBuffer([requests, cpu]));
    expect(await decodeOne(value)).toMatchObject({ offset: 7, samples: [requests, cpu] });
  });

  it('decodes a writer schema with an extra optional field (backward-compatible evolution)', async () => {
    const value = frame(EVOLVED_ID, evolvedSampleType.toBuffer({ ...cpu, unit: 'percent' }));
    expect(await decodeOne(value)).toMatchObject({ samples: [cpu] });
  });

  it('gives a reason for a writer schema no reader can resolve (value as string)', async () => {
    const value = frame(STRING_VALUE_ID, stringValueType.toBuffer({ ...cpu, value: '42.5' }));
    const out = await decodeOne(value);
    expect('error' in out && out.error).toMatch(
      /^schema id 5 is neither a metric sample nor a batch of them: /,
    );
  });

  it('gives records that cannot be read no samples, between records that can: validation stores the others and dead-letters them', async () => {
    const good = frame(BATCH_ID, batchType.toBuffer({ samples: [cpu, requests] }));
    const wrongMagic = Buffer.from(good);
    wrongMagic[0] = 1;
    // The batch's first sample is read into the columns before the body runs out.
    const truncated = good.subarray(0, good.length - 3);
    const single = frame(SAMPLE_ID, sampleType.toBuffer(cpu));
    const records = [record(20, good), record(21, wrongMagic), record(22, truncated), record(23, single)];
    const out = await firstValueFrom(of(partitionBatch(records)).pipe(decodeRecords(lookupStub().lookup)));
    expect([...out.ends]).toEqual([2, 2, 2, 3]);
    expect(out.columns.length).toBe(3);
    expect([...(out.errors?.keys() ?? [])]).toEqual([1, 2]);
    const valid = await firstValueFrom(
      of(out).pipe(validateSamples(defaultLimits, () => cpu.timestamp + 60_000)),
    );
    expect([...valid.samples.offset]).toEqual([20, 20, 23]);
    expect(valid.rejects.map((r) => [r.offset, r.stage, r.key, r.value, r.headers])).toEqual([
      [21, 'decode', records[1]?.key, wrongMagic, { trace: 'x' }],
      [22, 'decode', records[2]?.key, truncated, { trace: 'x' }],
    ]);
  });

  it("takes offsets from the batch's offsets, not from the record objects (the client's have them as text)", async () => {
    const good = frame(SAMPLE_ID, sampleType.toBuffer(cpu));
    const bad = Buffer.from(good);
    bad[0] = 1;
    const batch: PartitionBatch = {
      topic: 'metrics',
      partition: 3,
      records: [
        { key: null, value: good },
        { key: Buffer.from('k'), value: bad, headers: { trace: 'x' } },
        { key: null, value: good },
      ],
      offsets: Float64Array.of(40, 41, 42),
      lastOffset: 42,
      generation: 1,
    };
    const out = await firstValueFrom(of(batch).pipe(decodeRecords(lookupStub().lookup)));
    expect(out.firstOffset).toBe(40);
    const valid = await firstValueFrom(
      of(out).pipe(validateSamples(defaultLimits, () => cpu.timestamp + 60_000)),
    );
    expect([...valid.samples.offset]).toEqual([40, 42]);
    expect(valid.rejects.map((r) => [r.offset, r.key, r.headers])).toEqual([
      [41, Buffer.from('k'), { trace: 'x' }],
    ]);
  });

  it('rejects a wrong magic byte', async () => {
    const value = frame(BATCH_ID, batchType.toBuffer({ samples: [cpu] }));
    value[0] = 1;
    expect(await decodeOne(value)).toMatchObject({
      offset: 7,
      error: 'wrong magic byte 1 (expected 0, Confluent wire format)',
    });
  });

  it('rejects a record too short for the wire header', async () => {
    expect(await decodeOne(Buffer.from([0, 0, 0, 1]))).toMatchObject({
      error: 'record of 4 bytes has no wire header',
    });
  });

  it('rejects a null or empty value', async () => {
    expect(await decodeOne(null)).toMatchObject({ offset: 7, error: 'empty record value' });
    expect(await decodeOne(Buffer.alloc(0))).toMatchObject({ offset: 7, error: 'empty record value' });
  });

  it('rejects a truncated Avro body', async () => {
    const body = batchType.toBuffer({ samples: [cpu, requests] });
    const out = await decodeOne(frame(BATCH_ID, body.subarray(0, body.length - 3)));
    expect(out).toMatchObject({ offset: 7, error: 'cannot decode Avro body: truncated buffer' });
    expect(await decodeOne(frame(BATCH_ID, Buffer.alloc(0)))).toMatchObject({
      error: 'cannot decode Avro body: truncated buffer',
    });
  });

  it('rejects a body with bytes after the Avro datum', async () => {
    const value = frame(SAMPLE_ID, Buffer.concat([sampleType.toBuffer(cpu), Buffer.from([1])]));
    expect(await decodeOne(value)).toMatchObject({ error: 'cannot decode Avro body: trailing data' });
  });

  it("reads a value in place where the client's record says where it lies, never past its end", async () => {
    const batchValue = frame(BATCH_ID, batchType.toBuffer({ samples: [cpu, requests] }));
    const sampleValue = frame(SAMPLE_ID, sampleType.toBuffer(requests));
    // The values among other bytes, as in a fetched batch; `value` is what the client gives when read.
    const placed = (value: Buffer, valueLength = value.length) => {
      const bytes = Buffer.concat([Buffer.from([7, 7, 7]), value, Buffer.from([9, 9, 9, 9])]);
      return {
        key: null,
        get value() {
          return valueLength === -1 ? null : bytes.subarray(3, 3 + valueLength);
        },
        bytes,
        valueStart: 3,
        valueLength,
      };
    };
    const truncated = placed(batchValue, batchValue.length - 3);
    // The bytes after a value cut short complete it with its own last bytes: still truncated.
    truncated.bytes.set(batchValue.subarray(batchValue.length - 3), 3 + batchValue.length - 3);
    const records = [
      placed(batchValue),
      placed(sampleValue),
      truncated,
      placed(batchValue, -1),
      placed(Buffer.alloc(0)),
      // Its length runs past the buffer: cut where the buffer ends, as the client's `value` is.
      placed(sampleValue, sampleValue.length + 100),
    ];
    const batch = partitionBatchOf(
      { topic: 'metrics', partition: 3, lastOffset: 6, generation: 1 },
      records.map((r, offset) => Object.assign(r, { offset, headers: undefined })),
    );
    const out = await firstValueFrom(of(batch).pipe(decodeRecords(lookupStub().lookup)));
    const results = decodedRecords(out).map((d) => ('samples' in d ? samplesOf(d.samples) : d.error));
    expect(results).toEqual([
      [cpu, requests],
      [requests],
      'cannot decode Avro body: truncated buffer',
      'empty record value',
      'empty record value',
      'cannot decode Avro body: trailing data',
    ]);
    // The same records read through `value` alone give the same.
    const copies = records.map((r, offset) => ({ offset, key: null, value: r.value, headers: undefined }));
    const viaValue = await firstValueFrom(
      of(partitionBatchOf({ topic: 'metrics', partition: 3, lastOffset: 6, generation: 1 }, copies)).pipe(
        decodeRecords(lookupStub().lookup),
      ),
    );
    expect(decodedRecords(viaValue).map((d) => ('samples' in d ? samplesOf(d.samples) : d.error))).toEqual(
      results,
    );
  });

  it('rejects an unknown schema id and does not ask the lookup again for it', async () => {
    const { lookup, calls } = lookupStub();
    const bad = frame(UNKNOWN_ID, sampleType.toBuffer(cpu));
    const good = frame(SAMPLE_ID, sampleType.toBuffer(cpu));
    const batches = [partitionBatch([record(1, bad), record(2, good)]), partitionBatch([record(3, bad)])];
    const out = await lastValueFrom(from(batches).pipe(decodeRecords(lookup), toArray()));
    expect(
      out.map((b) => decodedRecords(b).map((r) => ('error' in r ? r.error : r.samples.to - r.samples.from))),
    ).toEqual([['unknown schema id 404', 1], ['unknown schema id 404']]);
    expect(Object.fromEntries(calls)).toEqual({ [UNKNOWN_ID]: 1, [SAMPLE_ID]: 1 });
  });

  it('fails the stream on a retriable lookup failure instead of rejecting the record', async () => {
    const value = frame(DOWN_ID, sampleType.toBuffer(cpu));
    const decoded = firstValueFrom(
      of(partitionBatch([record(1, value)])).pipe(decodeRecords(lookupStub().lookup)),
    );
    await expect(decoded).rejects.toMatchObject({ name: 'PipelineError', retriable: true });
  });

  it('asks again after a retriable failure: the id is not poisoned', async () => {
    const { lookup, calls } = lookupStub();
    const value = frame(DOWN_ID, sampleType.toBuffer(cpu));
    const op = decodeRecords(lookup);
    await expect(firstValueFrom(of(partitionBatch([record(1, value)])).pipe(op))).rejects.toBeInstanceOf(
      PipelineError,
    );
    await expect(firstValueFrom(of(partitionBatch([record(1, value)])).pipe(op))).rejects.toBeInstanceOf(
      PipelineError,
    );
    expect(calls.get(DOWN_ID)).toBe(2);
  });

  it('uses lastOffset as firstOffset for a batch with no records', async () => {
    const out = await firstValueFrom(of(partitionBatch([], 41)).pipe(decodeRecords(lookupStub().lookup)));
    const { columns, ends, offsets, ...position } = out;
    expect(position).toEqual({
      topic: 'metrics',
      partition: 3,
      firstOffset: 41,
      lastOffset: 41,
      generation: 1,
      records: [],
      errors: undefined,
    });
    expect([columns.length, ends.length, offsets.length]).toEqual([0, 0, 0]);
  });
});
