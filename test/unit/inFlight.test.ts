import { describe, expect, it } from 'vitest';
import { rejectedRecord } from '../../core/records.js';
import { columnsOf, SampleColumnsBuilder } from '../../core/sampleColumns.js';
import { InFlight, processedBytes, recordBytes } from '../../streams/kafkaSource.js';

describe('InFlight.onEmpty', () => {
  it('calls back each time the last batch in flight is released, not before, until unsubscribed', () => {
    const inFlight = new InFlight();
    let calls = 0;
    const off = inFlight.onEmpty(() => calls++);
    inFlight.add('a', 10);
    inFlight.add('b', 20);
    inFlight.release('a');
    expect(calls).toBe(0);
    expect(inFlight.empty).toBe(false);
    inFlight.release('b');
    expect(calls).toBe(1);
    expect(inFlight.empty).toBe(true);
    inFlight.add('c', 5);
    inFlight.release('c');
    expect(calls).toBe(2);
    off();
    inFlight.add('d', 5);
    inFlight.release('d');
    expect(calls).toBe(2);
  });

  it('lets a listener unsubscribe while being called, and calls the others', () => {
    const inFlight = new InFlight();
    const seen: string[] = [];
    const offFirst = inFlight.onEmpty(() => {
      seen.push('first');
      offFirst();
    });
    inFlight.onEmpty(() => seen.push('second'));
    inFlight.add('a', 1);
    inFlight.release('a');
    inFlight.add('b', 1);
    inFlight.release('b');
    expect(seen).toEqual(['first', 'second', 'second']);
  });
});

describe('InFlight.reweigh', () => {
  const never = () => Promise.resolve();
  it('counts a batch at its new weight from then on, wakes the fetch loop when it drops, and ignores batches not in flight', async () => {
    const inFlight = new InFlight();
    inFlight.add('a', 100);
    inFlight.add('b', 50);
    let below = false;
    const waiting = inFlight.below(120, never, () => true).then(() => (below = true));
    await Promise.resolve();
    expect(below).toBe(false);
    // Decoded, batch a holds a third of its records' bytes: 30 + 50 are in flight.
    inFlight.reweigh('a', 30);
    await waiting;
    expect(below).toBe(true);
    inFlight.reweigh('gone', 1000);
    // Released at its new weight: 50 left, then none.
    inFlight.release('a');
    let underFifty = false;
    void inFlight.below(49, never, () => true).then(() => (underFifty = true));
    await Promise.resolve();
    expect(underFifty).toBe(false);
    inFlight.release('b');
    expect(inFlight.empty).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(underFifty).toBe(true);
  });
});

describe('processedBytes', () => {
  it('weighs a decoded batch by its columns, its series and its rejects; behind a repartition topic, its origins and series described again', () => {
    const samples = columnsOf([
      { name: 'm', seriesId: 1n, timestamp: 1000, value: 1, kind: 'gauge' },
      { name: 'm', seriesId: 1n, timestamp: 2000, value: 2, kind: 'gauge' },
      { name: 'n', seriesId: 2n, timestamp: 1000, value: 3, kind: 'gauge' },
    ]);
    const batch = {
      recordCount: 3,
      generation: 1,
      topic: 't',
      partition: 0,
      firstOffset: 0,
      lastOffset: 2,
      samples,
      rejects: [],
    };
    expect(processedBytes(batch)).toBe(3 * 29 + 2 * 16);
    const reject = {
      topic: 't',
      partition: 0,
      offset: 3,
      key: null,
      value: Buffer.alloc(10),
      headers: undefined,
      stage: 'decode' as const,
      reason: 'bad',
    };
    expect(processedBytes({ ...batch, rejects: [reject] })).toBe(3 * 29 + 2 * 16 + 10 + 64);
    // Read behind a repartition topic: arrays grown to 4 for 3 samples, each with its origin.
    const grown = new SampleColumnsBuilder(2);
    const series = { id: 1n, key: '1', name: 'm', labels: [] };
    for (let i = 0; i < 3; i++) grown.push(series, 1000 * i, i, false, i, { partition: 0, offset: i });
    expect(processedBytes({ ...batch, samples: grown.finish() })).toBe(4 * 41 + 320);
  });
});

describe('recordBytes', () => {
  it("weighs a record by its key and value, from the client's lengths without making its Buffers", () => {
    expect(recordBytes({ key: Buffer.from('ab'), value: Buffer.from('cdef') })).toBe(2 + 4 + 64);
    expect(recordBytes({ key: null, value: null })).toBe(64);
    const patched = {
      keyLength: -1,
      valueLength: 10,
      get key(): Buffer | null {
        throw new Error('key read');
      },
      get value(): Buffer | null {
        throw new Error('value read');
      },
    };
    expect(recordBytes(patched)).toBe(10 + 64);
  });
});

describe('rejectedRecord', () => {
  it("copies a rejected record's key, value and header values out of the fetched bytes", () => {
    // A fetch response of its own (not from the pool small Buffers share).
    const fetched = Buffer.alloc(8);
    fetched.write('kkvvvvhh');
    const record = {
      key: fetched.subarray(0, 2),
      value: fetched.subarray(2, 6),
      headers: { h: fetched.subarray(6, 8), list: [fetched.subarray(6, 7), 'text'] },
    };
    const copy = rejectedRecord({ records: [record], offsets: Float64Array.of(42) }, 0);
    expect(copy.offset).toBe(42);
    expect(copy.key).toEqual(Buffer.from('kk'));
    expect(copy.value).toEqual(Buffer.from('vvvv'));
    expect(copy.headers).toEqual({ h: Buffer.from('hh'), list: [Buffer.from('h'), 'text'] });
    // Nothing of it is a view of the fetched bytes any more.
    const list = copy.headers?.list as Array<Buffer | string>;
    for (const b of [copy.key, copy.value, copy.headers?.h, list[0]])
      expect((b as Buffer).buffer).not.toBe(fetched.buffer);
    // Without headers, the record's own (shared) object stays.
    const none = Object.freeze({});
    expect(
      rejectedRecord({ records: [{ ...record, headers: none }], offsets: Float64Array.of(1) }, 0).headers,
    ).toBe(none);
  });
});
