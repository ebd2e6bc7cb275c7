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
