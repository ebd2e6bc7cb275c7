import type { Sample } from '../../schemas/index.js';
import { badRequest } from '../errors.js';
import { allStrings, scanBatch } from './jsonScanner.js';
import { columnsOf, type Decoded, type SampleColumns } from './types.js';

/**
 * Decodes the collector's own JSON batch: `{"samples": [{"name", "labels", "timestamp",
 * "value", "kind"}]}` (or a bare array of samples). `timestamp` is epoch milliseconds
 * (defaults to `now`), `labels` an object of strings (default none), `kind` "gauge" (default)
 * or "counter". A body of the wrong shape is refused as a whole with the path of the first
 * problem, so a client never has half a request taken silently.
 *
 * Bodies of the usual shape (jsonScanner.ts) are read straight from their bytes; anything
 * else, errors included, goes through `JSON.parse`, so both give the same samples and the same
 * errors.
 */
export function decodeJsonSamples(body: Buffer, now: number): SampleColumns {
  return scanBatch(body, now) ?? columnsOf(parseBatch(body, now));
}

/** The general path: `JSON.parse`, then every sample's shape checked. */
function parseBatch(body: Buffer, now: number): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`invalid JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : isObject(parsed) ? parsed.samples : undefined;
  if (!Array.isArray(list)) {
    throw badRequest('expected {"samples": [...]} or an array of samples');
  }
  const samples: Sample[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) samples[i] = sample(list[i], i, now);
  return { samples, rejected: new Map() };
}

/** Checks one sample's shape and fills its defaults in place. */
function sample(raw: unknown, i: number, now: number): Sample {
  if (!isObject(raw)) throw badRequest(`samples[${i}]: expected an object, got ${typeName(raw)}`);
  const s = raw as Partial<Record<keyof Sample, unknown>>;
  if (typeof s.name !== 'string')
    throw badRequest(`samples[${i}].name: expected a string, got ${typeName(s.name)}`);
  if (typeof s.value !== 'number')
    throw badRequest(`samples[${i}].value: expected a number, got ${typeName(s.value)}`);
  if (s.timestamp === undefined) s.timestamp = now;
  else if (typeof s.timestamp !== 'number')
    throw badRequest(
      `samples[${i}].timestamp: expected epoch milliseconds (a number), got ${typeName(s.timestamp)}`,
    );
  if (s.kind === undefined) s.kind = 'gauge';
  else if (s.kind !== 'gauge' && s.kind !== 'counter')
    throw badRequest(`samples[${i}].kind: expected "gauge" or "counter", got ${JSON.stringify(s.kind)}`);
  if (s.labels === undefined) s.labels = {};
  else if (!isObject(s.labels))
    throw badRequest(`samples[${i}].labels: expected an object of strings, got ${typeName(s.labels)}`);
  else if (!allStrings(s.labels)) {
    const labels = s.labels as Record<string, unknown>;
    for (const key in labels) {
      if (typeof labels[key] !== 'string')
        throw badRequest(`samples[${i}].labels.${key}: expected a string, got ${typeName(labels[key])}`);
    }
  }
  return s as Sample;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
