import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { AggregateName } from '../core/aggregates.js';
import { rollupBatchRecordSchema, rollupRecordSchema } from './rollupSchema.js';

/** The Avro schemas of the contract, as JSON, read once from the .avsc files next to this module. */
function load(file: string): avro.Schema {
  return JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as avro.Schema;
}

export const sampleSchema = load('./sample.avsc');
export const batchSchema = load('./batch.avsc');
export const alertSchema = load('./alert.avsc');
/** A tier's window result, from the aggregate registry (the .avsc file is written from it). */
export const rollupSchema = rollupRecordSchema();
/** The records of the tier topics: a flush's window results for one partition (docs/tier-topics.md). */
export const rollupBatchSchema = rollupBatchRecordSchema();

export type SampleKind = 'gauge' | 'counter';

/** A batch as it travels in Avro: the samples of one agent in one Kafka record. */
export interface SampleBatch {
  samples: Sample[];
}

/** A sample as it travels in Avro: metric name, labels, event time (epoch ms), value, kind. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  timestamp: number;
  value: number;
  kind: SampleKind;
}

/** A window result of a tier as published to its topic (schemas/rollup.avsc): one number per registry aggregate. */
export interface Rollup extends Record<AggregateName, number> {
  tier: string;
  seriesId: string;
  name: string;
  labels: Record<string, string>;
  kind: SampleKind;
  windowStart: number;
  windowEnd: number;
  revision: number;
  sketch: Buffer;
}

/** A record of a tier topic (schemas/rollupBatch.avsc): window results of one partition, in order. */
export interface RollupBatch {
  results: Rollup[];
}

export type AlertState = 'pending' | 'firing' | 'resolved';

export interface AlertEvent {
  fingerprint: string;
  rule: string;
  state: AlertState;
  severity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  startsAt: number;
  endsAt: number | null;
  timestamp: number;
}

// Logical types stay plain numbers (epoch ms) so decoding allocates no Date objects.
export const sampleType = avro.Type.forSchema(sampleSchema);
export const batchType = avro.Type.forSchema(batchSchema);
/** A bare Avro array of samples, as some producers write batches. */
export const sampleArrayType = avro.Type.forSchema({ type: 'array', items: sampleSchema });
export const alertType = avro.Type.forSchema(alertSchema);
export const rollupBatchType = avro.Type.forSchema(rollupBatchSchema);

/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body. */
export const WIRE_HEADER_BYTES = 5;

export function frame(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(WIRE_HEADER_BYTES + body.length);
  out[0] = 0;
  out.writeUInt32BE(schemaId, 1);
  body.copy(out, WIRE_HEADER_BYTES);
  return out;
}
