import type { SampleKind } from './index.js';

/** A sample with its labels as sorted pairs, as validation leaves it (see core/validate.ts). */
export interface PairedSample {
  name: string;
  labels: ReadonlyArray<readonly [string, string]>;
  timestamp: number;
  value: number;
  kind: SampleKind;
}

let buffer = Buffer.allocUnsafe(1 << 20);
let at = 0;

/**
 * The Avro binary encoding of `SampleBatch { samples: array<Sample> }` (schemas/batch.avsc),
 * byte for byte what `batchType.toBuffer` gives, written straight from label pairs: no
 * intermediate label objects, ASCII strings copied in JS rather than one native call each.
 * The collector's hot path; a unit test holds it equal to avsc.
 */
export function encodeSampleBatch(samples: ReadonlyArray<PairedSample>): Buffer {
  let bound = 16;
  for (const s of samples) {
    bound += 40 + s.name.length * 3;
    for (const [k, v] of s.labels) bound += 20 + (k.length + v.length) * 3;
  }
  if (bound > buffer.length) buffer = Buffer.allocUnsafe(bound * 2);
  at = 0;
  if (samples.length > 0) {
    writeLong(samples.length);
    for (const s of samples) {
      writeString(s.name);
      if (s.labels.length > 0) {
        writeLong(s.labels.length);
        for (const [k, v] of s.labels) {
          writeString(k);
          writeString(v);
        }
      }
      buffer[at++] = 0;
      writeLong(s.timestamp);
      buffer.writeDoubleLE(s.value, at);
      at += 8;
      buffer[at++] = s.kind === 'counter' ? 2 : 0;
    }
  }
  buffer[at++] = 0;
  return Buffer.from(buffer.subarray(0, at));
}

/** Zig-zag varint of a safe integer (Avro int and long). */
function writeLong(n: number): void {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    buffer[at++] = (z % 0x80) | 0x80;
    z = Math.floor(z / 0x80);
  }
  buffer[at++] = z;
}

function writeString(text: string): void {
  const length = text.length;
  if (length < 0x40) {
    // Short ASCII: one length byte, the characters as bytes.
    const start = at;
    buffer[at++] = length * 2;
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) {
        at = start;
        return writeUtf8(text);
      }
      buffer[at++] = c;
    }
    return;
  }
  writeUtf8(text);
}

function writeUtf8(text: string): void {
  const bytes = Buffer.byteLength(text);
  writeLong(bytes);
  at += buffer.write(text, at);
}
