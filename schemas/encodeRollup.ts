import { AGGREGATES, type AggregateDef, type AggregateName } from '../core/aggregates.js';
import { AvroWriter, stringBound } from './avroWriter.js';
import type { Rollup } from './index.js';

const out = new AvroWriter();

/**
 * The Avro binary encoding of a tier topic's record (schemas/rollupBatch.avsc): the window
 * results as one Avro array (one block), byte for byte what `rollupBatchType.toBuffer` gives,
 * without avsc's generic writer: every window of every series goes through it. A unit test holds
 * it equal to avsc. With `schemaId`, the Confluent wire header comes first (what `frame` would
 * add), written in the same pass: one copy out instead of two.
 */
export function encodeRollupBatch(results: ReadonlyArray<Rollup>, schemaId?: number): Buffer {
  let bound = 20;
  for (const r of results) bound += rollupBound(r);
  out.start(bound);
  if (schemaId !== undefined) out.wireHeader(schemaId);
  if (results.length > 0) {
    out.long(results.length);
    for (const r of results) writeRollup(r);
  }
  out.byte(0);
  return out.done();
}

/** At most the bytes of a result's encoding, wire header included. */
export function rollupBound(r: Rollup): number {
  // Per aggregate at most 10 bytes (a long, or a double in 8); the rest: identity, revision, headers.
  let bound =
    85 +
    10 * FIELDS.length +
    stringBound(r.tier) +
    stringBound(r.seriesId) +
    stringBound(r.name) +
    r.sketch.length;
  for (const key in r.labels) bound += stringBound(key) + stringBound(r.labels[key] as string);
  return bound;
}

/** The registry's Avro fields (core/aggregates.ts), in schema order. */
const FIELDS: readonly AggregateName[] = AGGREGATES.map((a) => a.name);
const LONG: readonly boolean[] = (AGGREGATES as readonly AggregateDef[]).map((a) => a.avro === 'long');

function writeRollup(r: Rollup): void {
  out.string(r.tier);
  out.string(r.seriesId);
  out.string(r.name);
  const keys = Object.keys(r.labels);
  if (keys.length > 0) {
    out.long(keys.length);
    for (const key of keys) {
      out.string(key);
      out.string(r.labels[key] as string);
    }
  }
  out.byte(0);
  out.long(r.kind === 'counter' ? 1 : 0);
  out.long(r.windowStart);
  out.long(r.windowEnd);
  for (let i = 0; i < FIELDS.length; i++) {
    const field = FIELDS[i] as AggregateName;
    if (LONG[i]) out.long(r[field]);
    else out.double(r[field]);
  }
  out.long(r.revision);
  out.bytes(r.sketch);
}

/**
 * A tier's window results as columns, as `RollupSink` builds them from the window stage's
 * results: identity per row, each registry aggregate finalized once into its own array (in
 * registry order), the sketches' protobufs in one buffer (row i: `[sketchAt[i], sketchAt[i+1])`).
 */
export interface RollupColumns {
  readonly tier: string;
  readonly length: number;
  readonly seriesId: ReadonlyArray<string>;
  readonly series: ReadonlyArray<{
    readonly name: string;
    readonly labels: ReadonlyArray<readonly [string, string]>;
    readonly kind: 'gauge' | 'counter';
  }>;
  readonly windowStart: Float64Array;
  readonly windowEnd: Float64Array;
  readonly revision: Float64Array;
  /** Per registry aggregate (core/aggregates.ts order), its value per row. */
  readonly values: ReadonlyArray<Float64Array>;
  readonly sketch: Buffer;
  readonly sketchAt: Int32Array;
}

/** At most the bytes of row `i`'s encoding (as `rollupBound` for the same result). */
export function rollupColumnsBound(c: RollupColumns, i: number): number {
  const series = c.series[i] as RollupColumns['series'][number];
  let bound =
    85 +
    10 * FIELDS.length +
    stringBound(c.tier) +
    stringBound(c.seriesId[i] as string) +
    stringBound(series.name) +
    ((c.sketchAt[i + 1] as number) - (c.sketchAt[i] as number));
  for (const [key, value] of series.labels) bound += stringBound(key) + stringBound(value);
  return bound;
}

/**
 * `encodeRollupBatch` of rows `rows` of the columns (byte for byte the same as for the `Rollup`s
 * of those rows), read straight from the arrays.
 */
export function encodeRollupColumns(
  c: RollupColumns,
  rows: ReadonlyArray<number>,
  schemaId?: number,
): Buffer {
  let bound = 20;
  for (const i of rows) bound += rollupColumnsBound(c, i);
  out.start(bound);
  if (schemaId !== undefined) out.wireHeader(schemaId);
  if (rows.length > 0) {
    out.long(rows.length);
    for (const i of rows) {
      const series = c.series[i] as RollupColumns['series'][number];
      out.string(c.tier);
      out.string(c.seriesId[i] as string);
      out.string(series.name);
      if (series.labels.length > 0) {
        out.long(series.labels.length);
        for (const [key, value] of series.labels) {
          out.string(key);
          out.string(value);
        }
      }
      out.byte(0);
      out.long(series.kind === 'counter' ? 1 : 0);
      out.long(c.windowStart[i] as number);
      out.long(c.windowEnd[i] as number);
      for (let f = 0; f < FIELDS.length; f++) {
        const v = (c.values[f] as Float64Array)[i] as number;
        if (LONG[f]) out.long(v);
        else out.double(v);
      }
      out.long(c.revision[i] as number);
      out.bytes(c.sketch.subarray(c.sketchAt[i], c.sketchAt[i + 1]));
    }
  }
  out.byte(0);
  return out.done();
}
