import { AGGREGATES, type AggregateDef, type AggregateName } from '../core/aggregates.js';
import { AvroWriter, stringBound } from './avroWriter.js';
import type { Rollup } from './index.js';

const out = new AvroWriter();

/**
 * The Avro binary encoding of a tier topic's record (schemas/rollupBatch.avsc): the window
 * results as one Avro array (one block), byte for byte what `rollupBatchType.toBuffer` gives,
 * without avsc's generic writer. A unit test holds it equal to avsc. With `schemaId`, the
 * Confluent wire header comes first (what `frame` would add), written in the same pass: one copy
 * out instead of two. The topology encodes from columns (`encodeRollupColumns`); this takes rows.
 */
export function encodeRollupBatch(results: ReadonlyArray<Rollup>, schemaId?: number): Buffer {
  return encodeRollupColumns(rollupColumnsOf(results), ALL(results.length), schemaId);
}

/** The registry's Avro fields (core/aggregates.ts), in schema order. */
const FIELDS: readonly AggregateName[] = AGGREGATES.map((a) => a.name);
const LONG: readonly boolean[] = (AGGREGATES as readonly AggregateDef[]).map((a) => a.avro === 'long');

const ALL = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** `Rollup` objects (as published) as columns. */
export function rollupColumnsOf(results: ReadonlyArray<Rollup>): RollupColumns {
  const n = results.length;
  const sketchAt = new Int32Array(n + 1);
  results.forEach((r, i) => (sketchAt[i + 1] = (sketchAt[i] as number) + r.sketch.length));
  return {
    // One tier per column set: rows of another tier keep theirs through `tierOf`.
    tier: results[0]?.tier ?? '',
    tierOf: results.some((r) => r.tier !== results[0]?.tier) ? results.map((r) => r.tier) : undefined,
    length: n,
    seriesId: results.map((r) => r.seriesId),
    series: results.map((r) => ({ name: r.name, labels: Object.entries(r.labels), kind: r.kind })),
    windowStart: Float64Array.from(results, (r) => r.windowStart),
    windowEnd: Float64Array.from(results, (r) => r.windowEnd),
    revision: Float64Array.from(results, (r) => r.revision),
    values: FIELDS.map((field) => Float64Array.from(results, (r) => r[field])),
    sketch: Buffer.concat(results.map((r) => r.sketch)),
    sketchAt,
  };
}

/**
 * A tier's window results as columns, as `RollupSink` builds them from the window stage's
 * results: identity per row, each registry aggregate finalized once into its own array (in
 * registry order), the sketches' protobufs in one buffer (row i: `[sketchAt[i], sketchAt[i+1])`).
 */
export interface RollupColumns {
  readonly tier: string;
  /** Per row, when rows of several tiers share the columns (rows given as `Rollup`s): its tier. */
  readonly tierOf?: ReadonlyArray<string>;
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

type Series = RollupColumns['series'][number];

/**
 * Per series (the object its rows share: the topology keeps one per series), the Avro bytes of
 * its identity in a result: series id, name, labels and kind, encoded once instead of per result.
 */
const identities = new WeakMap<Series, { seriesId: string; kind: Series['kind']; bytes: Buffer }>();
const identityOut = new AvroWriter();

function identity(series: Series, seriesId: string): Buffer {
  const known = identities.get(series);
  if (known !== undefined && known.seriesId === seriesId && known.kind === series.kind) return known.bytes;
  let bound = 20 + stringBound(seriesId) + stringBound(series.name);
  for (const [key, value] of series.labels) bound += stringBound(key) + stringBound(value);
  identityOut.start(bound);
  identityOut.string(seriesId);
  identityOut.string(series.name);
  if (series.labels.length > 0) {
    identityOut.long(series.labels.length);
    for (const [key, value] of series.labels) {
      identityOut.string(key);
      identityOut.string(value);
    }
  }
  identityOut.byte(0);
  identityOut.long(series.kind === 'counter' ? 1 : 0);
  const bytes = identityOut.done();
  identities.set(series, { seriesId, kind: series.kind, bytes });
  return bytes;
}

/** At most the bytes of row `i`'s encoding, wire header included. */
export function rollupColumnsBound(c: RollupColumns, i: number): number {
  return (
    85 +
    10 * FIELDS.length +
    stringBound(c.tierOf?.[i] ?? c.tier) +
    identity(c.series[i] as Series, c.seriesId[i] as string).length +
    ((c.sketchAt[i + 1] as number) - (c.sketchAt[i] as number))
  );
}

/**
 * The tier topic record (see `encodeRollupBatch`) of rows `rows` of the columns, in that order,
 * read straight from the arrays.
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
      out.string(c.tierOf?.[i] ?? c.tier);
      out.raw(identity(c.series[i] as Series, c.seriesId[i] as string));
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
