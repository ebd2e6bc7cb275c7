import { describe, expect, it } from 'vitest';
import { decodeSampleBatch } from '../../schemas/decodeBatch.js';
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
  decodeSampleBatch(body, columns);
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
