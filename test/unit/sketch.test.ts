import { DDSketch } from '@datadog/sketches-js';
import { describe, expect, it } from 'vitest';
import { prng } from '../../producer/synthetic.js';
import { binValue, keyOf, QuantileSketch, valueOf } from '../../core/sketch.js';

const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1];

/** Both sketches fed the same values. */
function both(values: number[]): { ours: QuantileSketch; theirs: DDSketch } {
  const ours = new QuantileSketch();
  const theirs = new DDSketch({ relativeAccuracy: 0.01 });
  for (const v of values) {
    ours.accept(v);
    theirs.accept(v);
  }
  return { ours, theirs };
}

const random = prng(7);
const cases: Record<string, number[]> = {
  'a gauge around 35': Array.from({ length: 500 }, () => 35 + 10 * (random() - 0.5)),
  'bytes around 4e9': Array.from({ length: 60 }, () => 4e9 + 1e7 * random()),
  'a counter': Array.from({ length: 100 }, (_, i) => i * 50 + random()),
  'negatives, zeros and positives': [-3.25, 0, 12.5, 1e9, -1e-9, 0, 4, -7, 1e-300, 2.5e-308],
  'one value': [42],
};

describe('QuantileSketch', () => {
  for (const [name, values] of Object.entries(cases)) {
    it(`gives the quantiles of sketches-js' DDSketch for ${name}`, () => {
      const { ours, theirs } = both(values);
      for (const q of QUANTILES) expect(ours.getValueAtQuantile(q)).toBe(theirs.getValueAtQuantile(q));
      expect([ours.count, ours.zeroCount, ours.sum, ours.min, ours.max]).toEqual([
        theirs.count,
        theirs.zeroCount,
        theirs.sum,
        theirs.min,
        theirs.max,
      ]);
    });

    it(`writes a protobuf that DDSketch.fromProto reads back for ${name}`, () => {
      const { ours, theirs } = both(values);
      // fromProto rebuilds the mapping from gamma, which may move the last bits: compare the two reads.
      const read = DDSketch.fromProto(ours.toProto());
      const reference = DDSketch.fromProto(theirs.toProto());
      for (const q of QUANTILES) expect(read.getValueAtQuantile(q)).toBe(reference.getValueAtQuantile(q));
      // Bins trimmed to the range used: never larger than sketches-js' own (≥ 128 bins per store).
      expect(ours.toProto().length).toBeLessThanOrEqual(theirs.toProto().length);
    });
  }

  it('merges like adding every value to one sketch', () => {
    const values = cases['negatives, zeros and positives'] as number[];
    const whole = both(values).ours;
    const left = both(values.slice(0, 4)).ours;
    left.merge(both(values.slice(4)).ours);
    for (const q of QUANTILES) expect(left.getValueAtQuantile(q)).toBe(whole.getValueAtQuantile(q));
    expect(left.count).toBe(whole.count);
  });

  it('writes an empty sketch that reads back empty', () => {
    const read = DDSketch.fromProto(new QuantileSketch().toProto());
    expect(read.count).toBe(0);
    expect(read.getValueAtQuantile(0.5)).toBeNaN();
  });
});

describe('valueOf', () => {
  it('gives the value of the formula for a bin, remembered or not, inside and outside the remembered keys', () => {
    for (const key of [-5000, -4097, -4096, -1, 0, 1, 1000, 4095, 4096, 9000, 0.5]) {
      expect(valueOf(key), `key ${key}`).toBe(binValue(key));
      expect(valueOf(key), `key ${key}, again`).toBe(binValue(key));
    }
    // A bin's value lies in its own bin.
    for (const key of [-1000, -1, 1, 1000]) expect(keyOf(valueOf(key))).toBe(key);
  });
});
