import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeAcc, encodeAcc } from '../../core/accCodec.js';
import {
  createRollupAggregator,
  finalize,
  sampleAggregator,
  type Aggregate,
  type SampleAcc,
} from '../../core/aggregate.js';
import { AGGREGATES, EXT_SLOTS, stateOffset } from '../../core/aggregates.js';
import type { SampleRow } from '../../core/records.js';
import { VERSION_3 } from './accV3.js';
import { avscText, rollupBatchRecordSchema, rollupRecordSchema } from '../../schemas/rollupSchema.js';
import { TIER_AGGREGATES } from '../../sinks/tables.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1, 10);

function row(timestamp: number, value: number): SampleRow {
  return { name: 'm', labels: [], timestamp, value, kind: 'gauge', seriesId: 1n, seriesKey: '1', offset: 0 };
}

function samples(rows: SampleRow[]): SampleAcc {
  const acc = sampleAggregator.create();
  for (const r of rows) sampleAggregator.add(acc, r, r.timestamp);
  return acc;
}

const stddevOf = (a: Aggregate) =>
  AGGREGATES.find((d) => d.name === 'stddev')?.finalize(a, MINUTE, stateOffset('stddev'));

/** Population standard deviation, two-pass (what ClickHouse's stddevPop computes). */
function populationStddev(values: number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
}

describe('the aggregate registry', () => {
  it('names every aggregate once, and the tier tables have a column per entry in its order', () => {
    const names = AGGREGATES.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    expect(TIER_AGGREGATES).toEqual(names);
    expect(EXT_SLOTS).toBe(3);
  });

  it('computes stddev of raw samples as the population standard deviation; NaN when empty, 0 for one sample', () => {
    const values = [3, 7.5, -2, 10, 0.25, 4];
    const rows = values.map((v, i) => row(T0 + i * 1000, v));
    expect(stddevOf(finalize(samples(rows)))).toBeCloseTo(populationStddev(values), 12);
    expect(stddevOf(finalize(samples([])))).toBeNaN();
    expect(stddevOf(finalize(samples([row(T0, 5)])))).toBe(0);
    // Equal values: exactly 0, not a rounding error.
    expect(stddevOf(finalize(samples(Array.from({ length: 7 }, (_, i) => row(T0 + i, 0.1)))))).toBe(0);
  });

  it('keeps stddev exact when the spread is tiny against the values (no sum of squares minus squared mean)', () => {
    // Disk bytes as the synthetic agents send them: 2.7e11, varying by about 3e5.
    const values = Array.from({ length: 60 }, (_, i) => 269_941_440_512 + ((i * 7919) % 1000) * 1000);
    const rows = values.map((v, i) => row(T0 + i * 1000, v));
    const expected = populationStddev(values);
    expect(Math.abs((stddevOf(finalize(samples(rows))) as number) - expected)).toBeLessThan(1e-9 * expected);
    const hour = createRollupAggregator(Infinity);
    const acc = hour.create();
    for (let m = 0; m < 6; m++) {
      const slot = rows.slice(m * 10, m * 10 + 10);
      hour.add(acc, { start: T0 + m * MINUTE, aggregate: finalize(samples(slot)) }, T0 + m * MINUTE);
    }
    expect(Math.abs((stddevOf(finalize(acc)) as number) - expected)).toBeLessThan(1e-9 * expected);
  });

  it('merges stddev over the windows of the tier below as over the samples (mergeable: count, sum, mean, squared deviations)', () => {
    const values = Array.from({ length: 360 }, (_, i) => Math.sin(i) * 100 + (i % 7));
    const rows = values.map((v, i) => row(T0 + i * 10_000, v));
    const hour = createRollupAggregator(2 * MINUTE);
    const acc = hour.create();
    for (let m = 0; m < 60; m++) {
      const slot = rows.filter((r) => r.timestamp >= T0 + m * MINUTE && r.timestamp < T0 + (m + 1) * MINUTE);
      hour.add(acc, { start: T0 + m * MINUTE, aggregate: finalize(samples(slot)) }, T0 + m * MINUTE);
    }
    expect(acc.folded).toBeDefined();
    expect(stddevOf(finalize(acc))).toBeCloseTo(populationStddev(values), 9);
  });

  it('keeps the stddev state through the changelog; state written before it existed (version 2) reads NaN', () => {
    const acc = samples([row(T0, 1), row(T0 + 1, 3)]);
    const bytes = encodeAcc(acc);
    expect(decodeAcc(bytes, 'samples').ext).toEqual([2, 2, 2]);
    // A version 2 record: version 3's layout without the trailing state (u8 count + three f64).
    const v3 = Buffer.from(VERSION_3.gauge, 'base64');
    const v2 = Buffer.from(v3.subarray(0, v3.length - 25));
    v2[0] = 2;
    const old = decodeAcc(v2, 'samples');
    expect(old.count).toBe(4);
    expect(stddevOf(finalize(old))).toBeNaN();
  });

  it('schemas/rollup.avsc and schemas/rollupBatch.avsc are what the registry gives (`npm run docs` writes them)', () => {
    const file = (name: string): unknown =>
      JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), 'utf8'));
    expect(file('rollup.avsc')).toEqual(JSON.parse(avscText(rollupRecordSchema())));
    expect(file('rollupBatch.avsc')).toEqual(JSON.parse(avscText(rollupBatchRecordSchema())));
  });
});
