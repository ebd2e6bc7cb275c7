import { describe, expect, it } from 'vitest';
import { HttpError } from '../../collector/errors.js';
import { decodeJsonSamples } from '../../collector/formats/json.js';
import type { SampleColumns } from '../../collector/formats/types.js';
import type { Sample } from '../../schemas/index.js';

const NOW = Date.UTC(2026, 10, 25, 12);

/** What the collector took from a body: its samples as objects, or the error's status and message. */
function decode(body: string): Sample[] | { status: number; error: string } {
  try {
    return samplesOf(decodeJsonSamples(Buffer.from(body), NOW));
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return { status: error.status, error: error.message };
  }
}

function samplesOf(c: SampleColumns): Sample[] {
  return c.series.map((s, i) => ({
    name: s.name,
    labels: { ...s.labels },
    timestamp: c.timestamps[i] as number,
    value: c.values[i] as number,
    kind: c.counters[i] ? 'counter' : 'gauge',
  }));
}

/** The reference: JSON.parse and the documented defaults, errors left to the decoder's general path. */
function reference(body: string): Sample[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { samples?: unknown })?.samples;
  if (!Array.isArray(list)) return undefined;
  return list.map((s: Record<string, unknown>) => ({
    name: s.name as string,
    labels: { ...((s.labels as Record<string, string>) ?? {}) },
    timestamp: (s.timestamp as number) ?? NOW,
    value: s.value as number,
    kind: (s.kind as 'gauge' | 'counter') ?? 'gauge',
  }));
}

describe('decodeJsonSamples', () => {
  it('reads any formatting, key order, number notation and text as JSON.parse does', () => {
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const spaces = ['', ' ', '\n', '\t ', '\r\n  '];
    const numbers = [
      '0',
      '-0',
      '7',
      '-12',
      '1.5',
      '-0.25',
      '0.1',
      '123456789012345',
      '1234567890123456789',
      '0.1234567890123456789',
      '3.141592653589793',
      '1e3',
      '1E-7',
      '2.5e+22',
      '9.87e-23',
      '1e308',
      '1e400',
      '5e-324',
      '1795625812045',
      '1795625812045.5',
    ];
    const texts = [
      'a',
      'host-1',
      'Zürich',
      '東京 🌡',
      'quote " inside',
      'back\\slash',
      'tab\there',
      'x'.repeat(70),
      '',
    ];
    const ws = () => pick(spaces);
    for (let round = 0; round < 300; round++) {
      const samples: string[] = [];
      for (let i = 0; i < 1 + Math.floor(rand() * 6); i++) {
        const fields = [
          `"name"${ws()}:${ws()}${JSON.stringify(pick(['m', 'http_requests_total', 'bad name', 'ü_metric']))}`,
          `"value"${ws()}:${ws()}${pick(numbers)}`,
        ];
        if (rand() < 0.7) fields.push(`"timestamp"${ws()}:${ws()}${pick(numbers)}`);
        if (rand() < 0.5) fields.push(`"kind"${ws()}:${ws()}"${pick(['gauge', 'counter'])}"`);
        if (rand() < 0.8) {
          const labels = Array.from(
            { length: Math.floor(rand() * 4) },
            (_, j) =>
              `${ws()}${JSON.stringify(pick(['host', 'le', 'path', `l${j}`]))}${ws()}:${ws()}${JSON.stringify(pick(texts))}`,
          );
          fields.push(`"labels"${ws()}:${ws()}{${labels.join(',')}${ws()}}`);
        }
        fields.sort(() => rand() - 0.5);
        samples.push(`${ws()}{${ws()}${fields.join(`${ws()},${ws()}`)}${ws()}}`);
      }
      const array = `[${samples.join(',')}${ws()}]`;
      const body = rand() < 0.5 ? array : `${ws()}{${ws()}"samples"${ws()}:${ws()}${array}${ws()}}${ws()}`;
      const expected = reference(body);
      expect(expected).toBeDefined();
      // Twice: the second time series come from the cache.
      expect(decode(body)).toEqual(expected);
      expect(decode(body)).toEqual(expected);
      // These bodies have the usual shape: read without JSON.parse, so their series are cached.
      const [once, again] = [0, 1].map(() => decodeJsonSamples(Buffer.from(body), NOW).series);
      again?.forEach((s, i) => expect(s).toBe(once?.[i]));
    }
  });

  it('gives the same series object to the samples of a series, in one body and the next', () => {
    const body = Buffer.from(
      JSON.stringify([
        { name: 'm', labels: { a: '1' }, value: 1 },
        { name: 'm', labels: { a: '2' }, value: 2 },
        { name: 'm', labels: { a: '1' }, value: 3 },
        { name: 'n', labels: { a: '1' }, value: 4 },
      ]),
    );
    const first = decodeJsonSamples(body, NOW).series;
    const second = decodeJsonSamples(Buffer.from(body), NOW).series;
    expect(first[0]).toBe(first[2]);
    expect(new Set(first).size).toBe(3);
    expect(second).toEqual(first);
    second.forEach((s, i) => expect(s).toBe(first[i]));
  });

  it('takes what JSON.parse takes that is not the usual shape: unknown keys, duplicates, escapes, null labels values refused', () => {
    expect(decode('{"samples": [{"name": "m", "value": 1, "unit": "s"}], "meta": {"x": [1]}}')).toEqual([
      { name: 'm', labels: {}, timestamp: NOW, value: 1, kind: 'gauge' },
    ]);
    expect(decode('[{"name": "m", "value": 1, "value": 2, "labels": {"a": "1", "a": "2"}}]')).toEqual([
      { name: 'm', labels: { a: '2' }, timestamp: NOW, value: 2, kind: 'gauge' },
    ]);
    expect(decode('[{"na\\u006de": "\\u006d", "value": 1}]')).toEqual([
      { name: 'm', labels: {}, timestamp: NOW, value: 1, kind: 'gauge' },
    ]);
    expect(decode('[{"name": "m", "value": 1, "labels": {"a": null}}]')).toEqual({
      status: 400,
      error: 'samples[0].labels.a: expected a string, got null',
    });
    expect(decode('[{"name": "m", "value": 1, "labels": {"a": {"b": "c"}}}]')).toEqual({
      status: 400,
      error: 'samples[0].labels.a: expected a string, got object',
    });
  });

  it('refuses what JSON.parse refuses, with its message', () => {
    const invalid = [
      '',
      '[',
      '[{"name": "m", "value": 1},]',
      '[{"name": "m", "value": 01}]',
      '[{"name": "m", "value": 1.}]',
      '[{"name": "m", "value": .5}]',
      '[{"name": "m", "value": -}]',
      '[{"name": "m", "value": +1}]',
      '[{"name": "m", "value": 1e}]',
      '[{"name": "m", "value": NaN}]',
      '[{"name": "m", "value": 1, "labels": {"a": "b",}}]',
      '[{"name": "m", "value": 1, "labels": {"a" "b"}}]',
      '[{"name": "m", "value": 1, "labels": {"a": "b\u0001"}}]',
      '[{"name": "m\u0001", "value": 1}]',
      '[{"name": "m", "value": 1}] x',
      '\ufeff[{"name": "m", "value": 1}]',
      '{"samples": [{"name": "m", "value": 1}]',
    ];
    for (const body of invalid) {
      let message = '';
      try {
        JSON.parse(body);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, body).not.toBe('');
      expect(decode(body), body).toEqual({ status: 400, error: `invalid JSON: ${message}` });
    }
  });

  it('refuses samples of the wrong shape with the place of the problem', () => {
    expect(decode('{"series": []}')).toEqual({
      status: 400,
      error: 'expected {"samples": [...]} or an array of samples',
    });
    expect(decode('[{"value": 1}]')).toEqual({
      status: 400,
      error: 'samples[0].name: expected a string, got undefined',
    });
    expect(decode('[{"name": "m", "value": 1}, {"name": "m", "value": "1"}]')).toEqual({
      status: 400,
      error: 'samples[1].value: expected a number, got string',
    });
    expect(decode('[{"name": "m", "value": 1, "timestamp": null}]')).toEqual({
      status: 400,
      error: 'samples[0].timestamp: expected epoch milliseconds (a number), got null',
    });
    expect(decode('[{"name": "m", "value": 1, "kind": "histogram"}]')).toEqual({
      status: 400,
      error: 'samples[0].kind: expected "gauge" or "counter", got "histogram"',
    });
    expect(decode('[{"name": "m", "value": 1, "labels": []}]')).toEqual({
      status: 400,
      error: 'samples[0].labels: expected an object of strings, got an array',
    });
    expect(decode('[1]')).toEqual({ status: 400, error: 'samples[0]: expected an object, got number' });
  });
});
