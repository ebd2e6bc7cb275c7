import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  alertSchema,
  alertType,
  batchSchema,
  frame,
  sampleSchema,
  WIRE_HEADER_BYTES,
  type AlertEvent,
} from '../../schemas/index.js';

const firing: AlertEvent = {
  fingerprint: '9f2c4e1a',
  rule: 'HighErrorRate',
  state: 'firing',
  severity: 'page',
  labels: { service: 'api', region: 'eu-west-1' },
  annotations: { summary: 'errors above 5 %' },
  value: 0.071,
  startsAt: 1_700_000_000_000,
  endsAt: null,
  timestamp: 1_700_000_060_000,
};

function readAvsc(file: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), 'utf8'));
}

describe('schemas', () => {
  it("keeps batch.avsc's item type equal to sample.avsc", () => {
    const batch = readAvsc('batch.avsc') as {
      fields: Array<{ name: string; type: { type: string; items: unknown } }>;
    };
    expect(batch.fields.map((f) => f.name)).toEqual(['samples']);
    expect(batch.fields[0]?.type.type).toBe('array');
    expect(batch.fields[0]?.type.items).toEqual(readAvsc('sample.avsc'));
  });

  it('exports the .avsc files as they are on disk', () => {
    expect(sampleSchema).toEqual(readAvsc('sample.avsc'));
    expect(batchSchema).toEqual(readAvsc('batch.avsc'));
    expect(alertSchema).toEqual(readAvsc('alert.avsc'));
  });

  it('parses alert.avsc with avsc and round-trips an AlertEvent', () => {
    const type = avro.Type.forSchema(readAvsc('alert.avsc') as avro.Schema);
    expect(type.name).toBe('io.metricspipeline.AlertEvent');
    const resolved: AlertEvent = {
      ...firing,
      state: 'resolved',
      endsAt: 1_700_000_600_000,
      timestamp: 1_700_000_600_000,
    };
    for (const event of [firing, resolved]) {
      expect(type.fromBuffer(type.toBuffer(event))).toEqual(event);
      expect(alertType.fromBuffer(alertType.toBuffer(event))).toEqual(event);
    }
  });

  it('rejects an alert with an unknown state', () => {
    expect(alertType.isValid(firing)).toBe(true);
    expect(alertType.isValid({ ...firing, state: 'exploded' })).toBe(false);
  });

  it('frames a body as magic byte 0, a 4-byte big-endian schema id, then the body', () => {
    expect(WIRE_HEADER_BYTES).toBe(5);
    expect([...frame(0x01020304, Buffer.from([0xaa, 0xbb]))]).toEqual([0, 1, 2, 3, 4, 0xaa, 0xbb]);
    expect([...frame(7, Buffer.alloc(0))]).toEqual([0, 0, 0, 0, 7]);
    expect([...frame(0xfffffffe, Buffer.from([1]))]).toEqual([0, 0xff, 0xff, 0xff, 0xfe, 1]);
  });
});
