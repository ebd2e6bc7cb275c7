import type avro from 'avsc';
import { AGGREGATES, type AggregateDef } from '../core/aggregates.js';

const ROLLUP_DOC =
  'The aggregates of one series over one event-time window of a tier (1m, 1h, …). A later revision of the same series and window replaces an earlier one.';

/**
 * The `Rollup` record (schemas/rollup.avsc): the window's identity, then one field per entry of
 * the aggregate registry (core/aggregates.ts) in its order, then the revision and the sketch.
 * The .avsc files are written from this by `npm run docs` and a test holds them equal.
 */
export function rollupRecordSchema(): avro.Schema {
  return {
    type: 'record',
    name: 'Rollup',
    namespace: 'io.metricspipeline',
    doc: ROLLUP_DOC,
    fields: [
      { name: 'tier', type: 'string' },
      { name: 'seriesId', type: 'string', doc: 'series_id (UInt64) as decimal text' },
      { name: 'name', type: 'string' },
      { name: 'labels', type: { type: 'map', values: 'string' }, default: {} },
      {
        name: 'kind',
        type: { type: 'enum', name: 'RollupKind', symbols: ['gauge', 'counter'], default: 'gauge' },
        default: 'gauge',
      },
      { name: 'windowStart', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'windowEnd', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ...(AGGREGATES as readonly AggregateDef[]).map((a) => ({
        name: a.name,
        type: a.avro,
        ...(a.doc === undefined ? {} : { doc: a.doc }),
        ...(a.avroDefault === undefined ? {} : { default: a.avroDefault }),
      })),
      {
        name: 'revision',
        type: 'int',
        doc: '1 for the result at window close, +1 per correction within the allowed lateness',
      },
      {
        name: 'sketch',
        type: 'bytes',
        doc: 'DDSketch (protobuf, relative accuracy 1%) of the values, mergeable across windows',
      },
    ],
  } as avro.Schema;
}

/** The record of a tier topic (schemas/rollupBatch.avsc): an array of `Rollup`. */
export function rollupBatchRecordSchema(): avro.Schema {
  return {
    type: 'record',
    name: 'RollupBatch',
    namespace: 'io.metricspipeline',
    doc: "The window results of one tier that one flush of a topology instance published to one partition of the tier topic, in the order they were computed. Every series of a batch belongs to that partition; the record key is the series id of its first result, so Kafka's default partitioner agrees. A later revision of the same series and window replaces an earlier one.",
    fields: [{ name: 'results', type: { type: 'array', items: rollupRecordSchema() } }],
  } as avro.Schema;
}

/** A schema as its .avsc file holds it. */
export function avscText(schema: avro.Schema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
