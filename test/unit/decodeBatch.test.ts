import { describe, expect, it } from 'vitest';
import { decodeSampleBatch, hashBytes, PartTable, viewOf } from '../../schemas/decodeBatch.js';
import { DecodedColumns, samplesOf } from '../../schemas/decodedSamples.js';
import { batchType, type Sample } from '../../schemas/index.js';

const texts = ['', 'a', 'host-1', 'Zürich', '東京 🌡', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(5000)];

const samples: Sample[] = Array.from({ length: 400 }, (_, i) => ({
  name: i % 50 === 0 ? (texts[i % texts.length] ?? 'm') : `metric_${i % 17}`,
  labels: Object.fromEntries(
    Array.from({ length: i % 5 }, (_, j) => [`l${j}`, texts[(i + j) % texts.length] as string]),
  ),
  timestamp: [0, 1, 63, 64, 8191, 8192, Date.UTC(2026, 10, 25), 2 ** 50 + 3, -1, -8193][i % 10] as number,
  value: [0, -0, 1.5, -2.25, 1e300, Number.MIN_VALUE, NaN, Infinity][i % 8] as number,
  kind: i % 3 === 0 ? 'counter' : 'gauge',
}));

/** The samples of one body, as objects. */
function decode(body: Buffer): Sample[] {
  const columns = new DecodedColumns(1);
  decodeSampleBatch(body, 0, columns);
  return samplesOf({ columns, from: 0, to: columns.length });
}

describe('decodeSampleBatch', () => {
  it('reads what avsc reads, for ASCII, non-ASCII, long strings and any number', () => {
    for (const batch of [[], samples.slice(0, 1), samples]) {
      const body = batchType.toBuffer({ samples: batch });
      expect(decode(body)).toEqual((batchType.fromBuffer(body) as { samples: Sample[] }).samples);
    }
  });

  it('reads arrays and maps written in blocks with byte sizes (negative counts)', () => {
    // samples: block of -1 item (size follows), then the end; labels: block of -1 entry, then the end.
    const body = Buffer.concat([
      Buffer.from([0x01, 0x00]), // array block: count -1, size 0 (ignored)
      Buffer.from([0x02, 0x6d]), // name "m"
      Buffer.from([0x01, 0x00, 0x02, 0x6b, 0x02, 0x76, 0x00]), // labels {k: v}
      Buffer.from([0x02]), // timestamp 1
      Buffer.alloc(8), // value 0
      Buffer.from([0x02, 0x00]), // kind counter, end of array
    ]);
    expect(decode(body)).toEqual([
      { name: 'm', labels: { k: 'v' }, timestamp: 1, value: 0, kind: 'counter' },
    ]);
  });

  it('shares the name and labels of samples of one series, within and across records', () => {
    const one = { name: 'cpu', labels: { host: 'a' }, value: 1, kind: 'gauge' as const };
    const first = decode(
      batchType.toBuffer({ samples: [1, 2, 3].map((timestamp) => ({ ...one, timestamp })) }),
    );
    const later = decode(batchType.toBuffer({ samples: [{ ...one, timestamp: 4 }] }));
    const labels = first[0]?.labels;
    expect(Object.isFrozen(labels)).toBe(true);
    for (const s of [...first, ...later]) expect(s.labels).toBe(labels);
  });

  it('refuses truncated bodies, trailing bytes and unknown kinds, as avsc does', () => {
    const body = batchType.toBuffer({ samples: samples.slice(0, 3) });
    for (let cut = 1; cut < body.length; cut++) {
      expect(() => decode(body.subarray(0, cut))).toThrow();
    }
    expect(() => decode(Buffer.concat([body, Buffer.from([0])]))).toThrow('trailing data');
    const badKind = Buffer.from(batchType.toBuffer({ samples: samples.slice(1, 2) }));
    badKind[badKind.length - 2] = 4; // kind index 2: no such symbol
    expect(() => decode(badKind)).toThrow('Kind');
  });
});

describe('decodeSampleBatch from an offset', () => {
  it('reads a body that starts past a header, in a buffer that starts inside its memory', () => {
    const body = batchType.toBuffer({ samples: samples.slice(0, 20) });
    // The value lies 13 bytes into its memory (as a record in a fetch response) and its body 5
    // bytes into the value: offsets from the memory and from the value must both be right.
    const memory = Buffer.allocUnsafeSlow(13 + 5 + body.length + 7).fill(0xee);
    const value = memory.subarray(13, 13 + 5 + body.length);
    value.set([0, 0, 0, 0, 7]);
    body.copy(value, 5);
    expect(value.byteOffset).toBe(13);
    const columns = new DecodedColumns(1);
    decodeSampleBatch(value, 5, columns);
    expect(samplesOf({ columns, from: 0, to: columns.length })).toEqual(decode(body));
  });
});

describe('PartTable', () => {
  const part = (name: string) => ({ name, labels: {} });

  it('finds parts by their bytes, wherever the bytes lie, and only by equal bytes', () => {
    const table = new PartTable(1000);
    const keys = Array.from({ length: 500 }, (_, i) => Buffer.from(`series-${i};`.repeat(1 + (i % 7))));
    for (const [i, key] of keys.entries()) table.add(key, 0, key.length, part(String(i)));
    for (const [i, key] of keys.entries()) {
      const elsewhere = Buffer.concat([Buffer.from('xyz'), key, Buffer.from('!')]);
      expect(table.get(elsewhere, 3, 3 + key.length)?.name).toBe(String(i));
      expect(table.get(key, 0, key.length - 1)).toBeUndefined();
    }
    expect(table.get(Buffer.from('series-500'), 0, 10)).toBeUndefined();
    // Same length, one byte different.
    const near = Buffer.from(keys[3] as Buffer);
    near[near.length - 1] = (near[near.length - 1] as number) ^ 1;
    expect(table.get(near, 0, near.length)).toBeUndefined();
  });

  it('empties itself when full, by entries or by bytes, and goes on working', () => {
    const byEntries = new PartTable(10);
    const key = (i: number) => Buffer.from(`k${i}`);
    for (let i = 0; i < 10; i++) byEntries.add(key(i), 0, key(i).length, part(String(i)));
    expect(byEntries.size).toBe(10);
    byEntries.add(key(10), 0, key(10).length, part('10'));
    expect(byEntries.size).toBe(1);
    expect(byEntries.get(key(0), 0, key(0).length)).toBeUndefined();
    expect(byEntries.get(key(10), 0, key(10).length)?.name).toBe('10');

    const byBytes = new PartTable(1000, 100);
    const big = Buffer.alloc(60, 1);
    byBytes.add(big, 0, 60, part('a'));
    const other = Buffer.alloc(60, 2);
    byBytes.add(other, 0, 60, part('b'));
    expect(byBytes.size).toBe(1);
    expect(byBytes.get(big, 0, 60)).toBeUndefined();
    expect(byBytes.get(other, 0, 60)?.name).toBe('b');
  });

  it('keeps finding parts while its byte store grows past its first size', () => {
    const table = new PartTable(100_000);
    const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(`${i}:`.padEnd(100, 'x')));
    for (const [i, key] of keys.entries()) table.add(key, 0, key.length, part(String(i)));
    for (const [i, key] of keys.entries()) expect(table.get(key, 0, key.length)?.name).toBe(String(i));
  });

  it('refuses bytes outside the buffer it is given', () => {
    const table = new PartTable(10);
    const memory = Buffer.alloc(64, 1);
    const buf = memory.subarray(0, 8);
    expect(() => table.get(buf, 0, 9)).toThrow(RangeError);
    expect(() => table.add(buf, 4, 12, part('x'))).toThrow(RangeError);
    expect(() => table.get(buf, 5, 4)).toThrow(RangeError);
    expect(table.get(buf, 0, 8)).toBeUndefined();
  });

  it('hashes every byte into the low bits that pick a slot', () => {
    // Keys that differ in one byte only, at each position of a 4-byte word: a word-wise hash
    // without mixing leaves the low bits alone for the high bytes, and every key collides.
    for (const position of [0, 1, 2, 3, 6, 7, 11]) {
      const lows = new Set<number>();
      for (let b = 0; b < 256; b++) {
        const key = Buffer.from('http_requests_total host=a'.padEnd(13, '-'));
        key[position] = b;
        lows.add(hashBytes(key, viewOf(key), 0, key.length) & 0x3ff);
      }
      expect(lows.size, `position ${position}`).toBeGreaterThan(200);
    }
  });
});
