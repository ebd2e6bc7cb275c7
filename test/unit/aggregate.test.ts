import { describe, expect, it } from 'vitest';
import { decodeAcc, encodeAcc } from '../../core/accCodec.js';
import {
  avg,
  finalize,
  quantile,
  rate,
  createRollupAggregator,
  packAggregate,
  rollupAggregator,
  sampleAggregator,
  unpackAggregate,
  type Aggregate,
  type PackedAggregate,
  type RollupAcc,
  type SampleAcc,
} from '../../core/aggregate.js';
import type { SampleRow } from '../../core/records.js';
import { VERSION_3 } from './accV3.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1, 10); // an hour boundary

function row(timestamp: number, value: number, kind: 'gauge' | 'counter' = 'gauge'): SampleRow {
  return { name: 'm', labels: [], timestamp, value, kind, seriesId: 1n, seriesKey: '1', offset: 0 };
}

function aggregateSamples(rows: SampleRow[]): SampleAcc {
  let acc = sampleAggregator.create();
  for (const r of rows) acc = sampleAggregator.add(acc, r, r.timestamp);
  return acc;
}

/** A deterministic pseudo-random sequence in [0, 1) (a linear congruential generator). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function shuffle<T>(items: T[], seed: number): T[] {
  const next = random(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The exact q-quantile as the sketch defines it: the value of rank floor(q (n - 1)). */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

function expectWithin1Percent(actual: number, exact: number): void {
  expect(Math.abs(actual - exact)).toBeLessThanOrEqual(0.01 * Math.abs(exact));
}

/** The fields of an Aggregate that must match exactly. */
function exactFields(a: Aggregate) {
  const { count, sum, min, max, first, firstTs, last, lastTs, increase, kind } = a;
  return { count, sum, min, max, first, firstTs, last, lastTs, increase, kind };
}

describe('sampleAggregator', () => {
  it('computes count, sum, min, max, avg, and first and last by event time, whatever the arrival order', () => {
    const rows = [
      row(T0 + 30_000, 7),
      row(T0 + 5_000, 4),
      row(T0 + 55_000, -2),
      row(T0 + 10_000, 10),
      row(T0 + 40_000, 1),
    ];
    const a = finalize(aggregateSamples(rows));
    expect(exactFields(a)).toEqual({
      count: 5,
      sum: 20,
      min: -2,
      max: 10,
      first: 4,
      firstTs: T0 + 5_000,
      last: -2,
      lastTs: T0 + 55_000,
      increase: 0,
      kind: 'gauge',
    });
    expect(avg(a)).toBe(4);
    expect(rate(a, MINUTE)).toBe(0);
  });

  it('estimates p50, p90 and p99 within 1% of the exact values', () => {
    const next = random(7);
    // Spread over five orders of magnitude, negative ones included.
    const values = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? -1 : 1) * Math.exp(next() * 12));
    const a = finalize(aggregateSamples(values.map((v, i) => row(T0 + i, v))));
    for (const q of [0.5, 0.9, 0.99, 0.05]) expectWithin1Percent(quantile(a, q), exactQuantile(values, q));
  });

  it('computes the increase of a counter over its points in time order, a drop counting as a restart from 0', () => {
    // In time order: 10, 15, 22, 3 (restart), 8: increase 5 + 7 + 3 + 5 = 20.
    const points: Array<[number, number]> = [
      [T0 + 0, 10],
      [T0 + 10_000, 15],
      [T0 + 20_000, 22],
      [T0 + 30_000, 3],
      [T0 + 40_000, 8],
    ];
    const rows = shuffle(points, 3).map(([t, v]) => row(t, v, 'counter'));
    expect(rows.map((r) => r.value)).not.toEqual([10, 15, 22, 3, 8]);
    const a = finalize(aggregateSamples(rows));
    expect(a.kind).toBe('counter');
    expect(a.increase).toBe(20);
    expect(rate(a, MINUTE)).toBeCloseTo(20 / 60, 12);
    expect([a.first, a.last]).toEqual([10, 8]);
  });

  it('returns an Aggregate that later samples do not change', () => {
    const acc = aggregateSamples([row(T0, 5), row(T0 + 1, 6)]);
    const before = finalize(acc);
    sampleAggregator.add(acc, row(T0 + 2, 1000), T0 + 2);
    expect(before.count).toBe(2);
    expectWithin1Percent(quantile(before, 1), 6);
    expect(before.sketch.count).toBe(2);
  });
});

describe('rollupAggregator', () => {
  /** An hour of samples every 10 s: a gauge, or a counter that restarts now and then. */
  function hourOfSamples(kind: 'gauge' | 'counter'): SampleRow[] {
    const next = random(kind === 'gauge' ? 11 : 13);
    const rows: SampleRow[] = [];
    let counter = 100;
    for (let t = T0; t < T0 + HOUR; t += 10_000) {
      if (kind === 'gauge') rows.push(row(t, Math.round(next() * 2000) - 500, kind));
      else {
        // Restarts, some right at a minute boundary (the first sample of a minute).
        counter =
          next() < 0.05 || (t - T0) % (7 * MINUTE) === 0
            ? Math.round(next() * 10)
            : counter + Math.round(next() * 50);
        rows.push(row(t, counter, kind));
      }
    }
    return rows;
  }

  /** The 1m results of the samples, rolled up into one hour, the minutes arriving in any order. */
  function rollUp(rows: SampleRow[]): Aggregate {
    const minutes = new Map<number, SampleRow[]>();
    for (const r of rows) {
      const start = Math.floor(r.timestamp / MINUTE) * MINUTE;
      minutes.set(start, [...(minutes.get(start) ?? []), r]);
    }
    expect(minutes.size).toBe(60);
    let acc = rollupAggregator.create();
    for (const [start, samples] of shuffle([...minutes], 5)) {
      acc = rollupAggregator.add(
        acc,
        { start, aggregate: finalize(aggregateSamples(shuffle(samples, start))) },
        start,
      );
    }
    return finalize(acc);
  }

  for (const kind of ['gauge', 'counter'] as const) {
    it(`rolls 60 minutes of a ${kind} up into the same hour as aggregating the samples directly`, () => {
      const rows = hourOfSamples(kind);
      const direct = finalize(aggregateSamples(shuffle(rows, 17)));
      const rolled = rollUp(rows);
      expect(exactFields(rolled)).toEqual(exactFields(direct));
      if (kind === 'counter')
        expect(direct.increase).toBeGreaterThan(
          (rows.at(-1) as SampleRow).value - (rows[0] as SampleRow).value,
        );
      for (const q of [0.5, 0.9, 0.99]) expectWithin1Percent(quantile(rolled, q), quantile(direct, q));
      for (const q of [0.01, 0.5, 0.9, 0.99]) {
        expectWithin1Percent(
          quantile(rolled, q),
          exactQuantile(
            rows.map((r) => r.value),
            q,
          ),
        );
      }
    });
  }

  for (const kind of ['gauge', 'counter'] as const) {
    it(`folds slots past the correctable horizon into one aggregate, with the same hour result (${kind})`, () => {
      const rows = hourOfSamples(kind);
      const folding = createRollupAggregator(2 * MINUTE);
      let acc = folding.create();
      let plain = rollupAggregator.create();
      for (let m = 0; m < 60; m++) {
        const samples = rows.filter((r) => Math.floor(r.timestamp / MINUTE) * MINUTE === T0 + m * MINUTE);
        const slot = { start: T0 + m * MINUTE, aggregate: finalize(aggregateSamples(samples)) };
        acc = folding.add(acc, slot, slot.start);
        plain = rollupAggregator.add(plain, slot, slot.start);
      }
      expect(acc.starts).toEqual([T0 + 58 * MINUTE, T0 + 59 * MINUTE]);
      expect(acc.slots.length).toBe(2);
      expect(acc.folded?.upTo).toBe(T0 + 57 * MINUTE);
      expect(exactFields(finalize(acc))).toEqual(exactFields(finalize(plain)));
      for (const q of [0.5, 0.99]) expect(quantile(finalize(acc), q)).toBe(quantile(finalize(plain), q));
      // A replay of a folded slot changes nothing; the state survives its changelog encoding.
      const before = encodeAcc(acc);
      acc = folding.add(acc, { start: T0, aggregate: finalize(aggregateSamples([row(T0, 1e9, kind)])) }, T0);
      expect(encodeAcc(acc).equals(before)).toBe(true);
      expect(encodeAcc(decodeAcc(before, 'rollup')).equals(before)).toBe(true);
      expect(exactFields(finalize(decodeAcc(before, 'rollup')))).toEqual(exactFields(finalize(plain)));
    });
  }

  for (const kind of ['gauge', 'counter'] as const) {
    it(`folds several slots that turn final at once in time order, whatever order they came in (${kind})`, () => {
      const rows = hourOfSamples(kind);
      const slotOf = (m: number) => ({
        start: T0 + m * MINUTE,
        aggregate: finalize(
          aggregateSamples(rows.filter((r) => Math.floor(r.timestamp / MINUTE) * MINUTE === T0 + m * MINUTE)),
        ),
      });
      const folding = createRollupAggregator(5 * MINUTE);
      let acc = folding.create();
      let plain = rollupAggregator.create();
      // Minutes 3, 0, 4, 1, 2 (none final yet), then 9: 0–4 turn final together, 0 first.
      for (const m of [3, 0, 4, 1, 2, 9]) {
        const slot = slotOf(m);
        acc = folding.add(acc, slot, slot.start);
        plain = rollupAggregator.add(plain, slot, slot.start);
        expect(acc.folded === undefined).toBe(m !== 9);
      }
      expect(acc.folded?.from).toBe(T0);
      expect(acc.folded?.upTo).toBe(T0 + 4 * MINUTE);
      expect(acc.starts).toEqual([T0 + 9 * MINUTE]);
      expect(acc.slots.length).toBe(1);
      expect(exactFields(finalize(acc))).toEqual(exactFields(finalize(plain)));
    });
  }

  it('counts the step between slots only from counter to counter, folded or not', () => {
    // A gauge minute, then counter minutes (a series that changed kind): the counter's increase
    // starts with its own samples, as aggregating them directly gives.
    const rows = [row(T0, 50), row(T0 + MINUTE, 2, 'counter'), row(T0 + MINUTE + 1, 4, 'counter')];
    rows.push(row(T0 + 2 * MINUTE, 1, 'counter'), row(T0 + 2 * MINUTE + 1, 6, 'counter'));
    const direct = finalize(aggregateSamples(rows));
    expect(direct.increase).toBe(8); // 4 - 2, 1 after a restart from 0, 6 - 1
    for (const aggregator of [rollupAggregator, createRollupAggregator(0)]) {
      let acc = aggregator.create();
      for (const m of [0, 1, 2]) {
        const start = T0 + m * MINUTE;
        const minute = rows.filter((r) => r.timestamp >= start && r.timestamp < start + MINUTE);
        acc = aggregator.add(acc, { start, aggregate: finalize(aggregateSamples(minute)) }, start);
      }
      expect(exactFields(finalize(acc))).toEqual(exactFields(direct));
    }
  });

  it('replaces a slot by its corrected result', () => {
    const slot = (rows: SampleRow[]) => ({ start: T0, aggregate: finalize(aggregateSamples(rows)) });
    let acc = rollupAggregator.create();
    acc = rollupAggregator.add(acc, slot([row(T0, 1), row(T0 + 1, 2)]), T0);
    acc = rollupAggregator.add(
      acc,
      { start: T0 + MINUTE, aggregate: finalize(aggregateSamples([row(T0 + MINUTE, 9)])) },
      T0 + MINUTE,
    );
    acc = rollupAggregator.add(acc, slot([row(T0, 1), row(T0 + 1, 2), row(T0 + 2, 30)]), T0);
    expect(acc.starts).toEqual([T0, T0 + MINUTE]);
    const a = finalize(acc);
    expect(exactFields(a)).toMatchObject({ count: 4, sum: 42, min: 1, max: 30, first: 1, last: 9 });
    expect(a.sketch.count).toBe(4);
    expectWithin1Percent(quantile(a, 1), 30);
  });

  it('merges the sketches of negative values too', () => {
    let acc = rollupAggregator.create();
    acc = rollupAggregator.add(
      acc,
      { start: T0, aggregate: finalize(aggregateSamples([row(T0, -5), row(T0 + 1, 3)])) },
      T0,
    );
    acc = rollupAggregator.add(
      acc,
      {
        start: T0 + MINUTE,
        aggregate: finalize(aggregateSamples([row(T0 + MINUTE, -9), row(T0 + MINUTE + 1, -7)])),
      },
      T0 + MINUTE,
    );
    const a = finalize(acc);
    expectWithin1Percent(quantile(a, 0), -9);
    expectWithin1Percent(quantile(a, 1 / 3), -7);
    expectWithin1Percent(quantile(a, 2 / 3), -5);
    expectWithin1Percent(quantile(a, 1), 3);
  });

  it('keeps each slot packed as one array that unpacks to the same aggregate, bins, ext and -0 included', () => {
    const counterRows = [row(T0, 5, 'counter'), row(T0 + 1, 2, 'counter'), row(T0 + 2, 4, 'counter')];
    for (const rows of [[row(T0, -0)], [row(T0, -5), row(T0 + 1, 0), row(T0 + 2, 3.5)], counterRows]) {
      const aggregate = finalize(aggregateSamples(rows));
      const packed = packAggregate(aggregate);
      expect(Array.isArray(packed)).toBe(true);
      const back = unpackAggregate(packed);
      expect(back).toEqual(aggregate);
      expect(Object.is(back.sum, aggregate.sum)).toBe(true);
      expect(back.sketch.toProto()).toEqual(aggregate.sketch.toProto());
      expect(back.sketch.negative.total).toBe(aggregate.sketch.negative.total);
    }
    const acc = rollupAggregator.add(
      rollupAggregator.create(),
      { start: T0, aggregate: finalize(aggregateSamples(counterRows)) },
      T0,
    );
    expect(acc.starts).toEqual([T0]);
    expect(Array.isArray(acc.slots[0])).toBe(true);
  });
});

describe('encodeAcc / decodeAcc', () => {
  // A gauge with a zero and negative values (the sketch's other stores), a counter with points.
  const gauge = (): SampleAcc =>
    aggregateSamples([row(T0 + 2, 12.5), row(T0, 0), row(T0 + 1, -3.25), row(T0 + 3, 1e9)]);
  const counter = (): SampleAcc =>
    aggregateSamples([
      row(T0 + 20_000, 7.5, 'counter'),
      row(T0, 3, 'counter'),
      row(T0 + 40_000, 1, 'counter'),
      row(T0 + 20_000, 8, 'counter'),
    ]);
  const rollup = (): RollupAcc => {
    let acc = rollupAggregator.create();
    acc = rollupAggregator.add(acc, { start: T0 + MINUTE, aggregate: finalize(gauge()) }, T0 + MINUTE);
    acc = rollupAggregator.add(
      acc,
      { start: T0, aggregate: finalize(aggregateSamples([row(T0, 1e-9), row(T0 + 1, 4)])) },
      T0,
    );
    return acc;
  };

  for (const [name, make] of [
    ['gauge', gauge],
    ['counter', counter],
  ] as const) {
    it(`round-trips a ${name} sample accumulator exactly, sketch quantiles included`, () => {
      const acc = make();
      const bytes = encodeAcc(acc);
      const decoded = decodeAcc(bytes, 'samples');
      expect(encodeAcc(decoded)).toEqual(bytes);
      const { sketch, ...rest } = decoded;
      const { sketch: original, ...expected } = acc;
      expect(rest).toEqual(expected);
      expect([sketch.count, sketch.sum, sketch.min, sketch.max, sketch.zeroCount]).toEqual([
        original.count,
        original.sum,
        original.min,
        original.max,
        original.zeroCount,
      ]);
      for (const q of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]) {
        expect(sketch.getValueAtQuantile(q)).toBe(original.getValueAtQuantile(q));
      }
      expect(exactFields(finalize(decoded))).toEqual(exactFields(finalize(acc)));
    });
  }

  it('round-trips a rollup accumulator exactly', () => {
    const acc = rollup();
    const bytes = encodeAcc(acc);
    const decoded = decodeAcc(bytes, 'rollup');
    expect(encodeAcc(decoded)).toEqual(bytes);
    expect(decoded.starts).toEqual([T0, T0 + MINUTE]);
    expect(acc.starts).toEqual([T0, T0 + MINUTE]);
    for (let i = 0; i < acc.slots.length; i++) {
      const slot = unpackAggregate(acc.slots[i] as PackedAggregate);
      const copy = unpackAggregate(decoded.slots[i] as PackedAggregate);
      expect(exactFields(copy)).toEqual(exactFields(slot));
      for (const q of [0, 0.5, 1]) expect(quantile(copy, q)).toBe(quantile(slot, q));
    }
    const a = finalize(decoded);
    const b = finalize(acc);
    expect(exactFields(a)).toEqual(exactFields(b));
    for (const q of [0, 0.3, 0.6, 1]) expect(quantile(a, q)).toBe(quantile(b, q));
  });

  it('writes packed slots as their aggregates, read back field for field', () => {
    const odd = finalize(aggregateSamples([row(T0 + 2 * MINUTE, 7), row(T0 + 2 * MINUTE + 1, 9)]));
    odd.sketch.sum = 15.5; // a sketch whose statistics differ from the window's are written out
    odd.sketch.max = 10;
    const slots: Aggregate[] = [
      finalize(aggregateSamples([row(T0, -0)])),
      finalize(aggregateSamples([row(T0 + MINUTE, -5), row(T0 + MINUTE + 1, 0), row(T0 + MINUTE + 2, 3.25)])),
      odd,
      finalize(
        aggregateSamples([row(T0 + 3 * MINUTE, 5, 'counter'), row(T0 + 3 * MINUTE + 1, 2, 'counter')]),
      ),
    ];
    let acc = rollupAggregator.create();
    slots.forEach((aggregate, i) => {
      acc = rollupAggregator.add(acc, { start: T0 + i * MINUTE, aggregate }, T0 + i * MINUTE);
    });
    const decoded = decodeAcc(encodeAcc(acc), 'rollup');
    slots.forEach((aggregate, i) => {
      expect(decoded.starts[i]).toBe(T0 + i * MINUTE);
      const back = unpackAggregate(decoded.slots[i] as PackedAggregate);
      expect(back).toEqual(aggregate);
      expect(Object.is(back.sum, aggregate.sum)).toBe(true);
      expect(back.sketch.toProto()).toEqual(aggregate.sketch.toProto());
      expect([back.sketch.sum, back.sketch.max]).toEqual([aggregate.sketch.sum, aggregate.sketch.max]);
    });
    expect(encodeAcc(decoded)).toEqual(encodeAcc(acc));
  });

  it('encodes the same input to the same bytes', () => {
    expect(encodeAcc(counter())).toEqual(encodeAcc(counter()));
    expect(encodeAcc(rollup())).toEqual(encodeAcc(rollup()));
  });

  it('keeps and encodes the slots of a rollup in time order, whatever order they arrived in', () => {
    const starts = [T0 + 3 * MINUTE, T0, T0 + 2 * MINUTE, T0 + MINUTE, T0 + 5 * MINUTE, T0 + 4 * MINUTE];
    const slot = (start: number) => finalize(aggregateSamples([row(start, start / MINUTE)]));
    let arrived = rollupAggregator.create();
    for (const start of starts)
      arrived = rollupAggregator.add(arrived, { start, aggregate: slot(start) }, start);
    let ordered = rollupAggregator.create();
    for (const start of [...starts].sort((a, b) => a - b))
      ordered = rollupAggregator.add(ordered, { start, aggregate: slot(start) }, start);
    expect(arrived.starts).toEqual([...starts].sort((a, b) => a - b));
    arrived.slots.forEach((packed, i) =>
      expect(unpackAggregate(packed).first).toBe((arrived.starts[i] as number) / MINUTE),
    );
    expect(encodeAcc(arrived)).toEqual(encodeAcc(ordered));
    expect(decodeAcc(encodeAcc(arrived), 'rollup').starts).toEqual(arrived.starts);
  });

  it('reads a rollup record whose slots are out of order or repeated: in order, the later of a repeat kept', () => {
    const one = (start: number, value: number) => {
      const acc = rollupAggregator.add(
        rollupAggregator.create(),
        { start, aggregate: finalize(aggregateSamples([row(start, value)])) },
        start,
      );
      const bytes = encodeAcc(acc);
      // version, type, no folded aggregate, one slot: the slot's bytes follow.
      expect([bytes[2], bytes[3]]).toEqual([0, 1]);
      return { header: bytes.subarray(0, 2), slot: bytes.subarray(4) };
    };
    const late = one(T0 + MINUTE, 5);
    const early = one(T0, 7);
    const repeat = one(T0 + MINUTE, 9);
    const record = Buffer.concat([late.header, Buffer.from([0, 3]), late.slot, early.slot, repeat.slot]);
    const decoded = decodeAcc(record, 'rollup');
    expect(decoded.starts).toEqual([T0, T0 + MINUTE]);
    expect(decoded.slots.map((p) => unpackAggregate(p).first)).toEqual([7, 9]);
  });

  it('reads accumulators written by version 3 (fixed-width) as the same accumulators', () => {
    for (const [name, make, type] of [
      ['gauge', gauge, 'samples'],
      ['counter', counter, 'samples'],
      ['rollup', rollup, 'rollup'],
    ] as const) {
      const old = Buffer.from(VERSION_3[name], 'base64');
      expect(old[0]).toBe(3);
      const decoded = decodeAcc(old, type);
      expect(encodeAcc(decoded), name).toEqual(encodeAcc(make()));
    }
  });

  it('writes counts, times and the sketch compactly: under 60 % of the bytes of version 3', () => {
    for (const [name, make] of [
      ['gauge', gauge],
      ['counter', counter],
      ['rollup', rollup],
    ] as const) {
      const size = encodeAcc(make()).length;
      const before = Buffer.from(VERSION_3[name], 'base64').length;
      expect(size / before, name).toBeLessThan(0.6);
    }
  });

  it("keeps statistics of the sketch that differ from the window's, and counts that are not whole", () => {
    const acc = gauge();
    acc.sketch.sum = 0; // the window's sum of -0 samples is -0, its sketch's 0
    acc.sketch.accept(2.5, 0.25);
    acc.count = 2 ** 53 - 1;
    acc.firstTs = -5;
    const decoded = decodeAcc(encodeAcc(acc), 'samples');
    expect(Object.is(decoded.sketch.sum, acc.sketch.sum)).toBe(true);
    expect([decoded.sketch.count, decoded.sketch.max, decoded.count, decoded.firstTs]).toEqual([
      acc.sketch.count,
      acc.sketch.max,
      acc.count,
      -5,
    ]);
    expect(encodeAcc(decoded)).toEqual(encodeAcc(acc));
    for (const q of [0, 0.5, 0.9, 1])
      expect(decoded.sketch.getValueAtQuantile(q)).toBe(acc.sketch.getValueAtQuantile(q));
  });

  it('rejects bytes of the other type, truncated or with bytes left over', () => {
    const bytes = encodeAcc(counter());
    expect(() => decodeAcc(bytes, 'rollup')).toThrow(/expected a rollup accumulator, found samples/);
    expect(() => decodeAcc(bytes.subarray(0, bytes.length - 3))).toThrow(
      /cannot decode a window accumulator/,
    );
    expect(() => decodeAcc(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/1 bytes left over/);
  });
});
