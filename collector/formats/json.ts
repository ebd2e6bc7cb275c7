import type { Sample } from '../../schemas/index.js';
import { badRequest } from '../errors.js';
import type { Decoded } from './types.js';

/**
 * Decodes the collector's own JSON batch: `{"samples": [{"name", "labels", "timestamp",
 * "value", "kind"}]}` (or a bare array of samples). `timestamp` is epoch milliseconds
 * (defaults to `now`), `labels` an object of strings (default none), `kind` "gauge" (default)
 * or "counter". A body of the wrong shape is refused as a whole with the path of the first
 * problem, so a client never has half a request taken silently.
 */
export function decodeJsonSamples(body: Buffer, now: number): Decoded {
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

function sample(raw: unknown, i: number, now: number): Sample {
  const at = `samples[${i}]`;
  if (!isObject(raw)) throw badRequest(`${at}: expected an object, got ${typeName(raw)}`);
  const { name, labels, timestamp, value, kind } = raw;
  if (typeof name !== 'string') throw badRequest(`${at}.name: expected a string, got ${typeName(name)}`);
  if (typeof value !== 'number') throw badRequest(`${at}.value: expected a number, got ${typeName(value)}`);
  if (timestamp !== undefined && typeof timestamp !== 'number')
    throw badRequest(`${at}.timestamp: expected epoch milliseconds (a number), got ${typeName(timestamp)}`);
  if (kind !== undefined && kind !== 'gauge' && kind !== 'counter')
    throw badRequest(`${at}.kind: expected "gauge" or "counter", got ${JSON.stringify(kind)}`);
  const out: Record<string, string> = {};
  if (labels !== undefined) {
    if (!isObject(labels))
      throw badRequest(`${at}.labels: expected an object of strings, got ${typeName(labels)}`);
    for (const key in labels) {
      const v = labels[key];
      if (typeof v !== 'string')
        throw badRequest(`${at}.labels.${key}: expected a string, got ${typeName(v)}`);
      out[key] = v;
    }
  }
  return { name, labels: out, timestamp: timestamp ?? now, value, kind: kind ?? 'gauge' };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
