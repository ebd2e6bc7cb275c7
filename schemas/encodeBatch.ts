/**
 * The Avro binary encoding of `SampleBatch { samples: array<Sample> }` (schemas/batch.avsc),
 * byte for byte what `batchType.toBuffer` gives, written in two steps: the series part of a
 * sample (`name` and the `labels` map) once per series with `encodeSeries`, then every sample
 * of that series from those bytes with `writeSample` (`timestamp`, `value`, `kind` after them).
 * The collector's hot path; a unit test holds it equal to avsc.
 *
 * A batch body is then: the sample count as an Avro long, the samples, and a 0 (the end of
 * the array): `writeLong` + `writeSample`s + one 0 byte.
 */

const TWO_28 = 0x10000000;
let scratch = Buffer.allocUnsafe(4096);
let at = 0;

/** The `name` and `labels` fields of a Sample (labels as pairs, in the order given), as a new buffer. */
export function encodeSeries(name: string, labels: ReadonlyArray<readonly [string, string]>): Buffer {
  let bound = 16 + name.length * 3;
  for (const [k, v] of labels) bound += 20 + (k.length + v.length) * 3;
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(bound * 2);
  at = 0;
  writeString(name);
  if (labels.length > 0) {
    at = writeLong(scratch, at, labels.length);
    for (const [k, v] of labels) {
      writeString(k);
      writeString(v);
    }
  }
  scratch[at++] = 0;
  return Buffer.from(scratch.subarray(0, at));
}

/** Bytes `writeSample` takes for a sample of a series encoded in `seriesBytes` bytes. */
export function sampleSize(seriesBytes: number, timestamp: number): number {
  return seriesBytes + longSize(timestamp) + 9;
}

/**
 * Writes one Sample at `offset` of `out` (which has room, see `sampleSize`): the series bytes,
 * then timestamp, value and kind. Returns the offset after it.
 */
export function writeSample(
  out: Buffer,
  offset: number,
  series: Uint8Array,
  timestamp: number,
  value: number,
  counter: boolean,
): number {
  out.set(series, offset);
  const pos = writeLong(out, offset + series.length, timestamp);
  out.writeDoubleLE(value, pos);
  out[pos + 8] = counter ? 2 : 0;
  return pos + 9;
}

/** Writes a zig-zag varint of a safe integer (Avro int and long) at `offset`; returns the offset after it. */
export function writeLong(out: Uint8Array, offset: number, n: number): number {
  let pos = offset;
  const z = n >= 0 ? n * 2 : -n * 2 - 1;
  // Integer operations on 28 bits at a time: a millisecond timestamp takes two rounds.
  let rest = z;
  if (z >= TWO_28) {
    const low = z % TWO_28;
    out[pos++] = (low & 0x7f) | 0x80;
    out[pos++] = ((low >>> 7) & 0x7f) | 0x80;
    out[pos++] = ((low >>> 14) & 0x7f) | 0x80;
    out[pos++] = ((low >>> 21) & 0x7f) | 0x80;
    rest = (z - low) / TWO_28;
  }
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[pos++] = rest;
  return pos;
}

/** Bytes of the zig-zag varint of a safe integer. */
export function longSize(n: number): number {
  const z = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  let rest = z;
  if (z >= TWO_28) {
    size = 5;
    rest = Math.floor(z / TWO_28);
  }
  while (rest >= 0x80) {
    rest >>>= 7;
    size++;
  }
  return size;
}

function writeString(text: string): void {
  const length = text.length;
  if (length < 0x40) {
    // Short ASCII: one length byte, the characters as bytes.
    const start = at;
    scratch[at++] = length * 2;
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) {
        at = start;
        return writeUtf8(text);
      }
      scratch[at++] = c;
    }
    return;
  }
  writeUtf8(text);
}

function writeUtf8(text: string): void {
  at = writeLong(scratch, at, Buffer.byteLength(text));
  at += scratch.write(text, at);
}
