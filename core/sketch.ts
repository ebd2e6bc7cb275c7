/**
 * A DDSketch (Masson, Rim, Lee, VLDB 2019) with sparse bins: the same logarithmic key mapping,
 * relative accuracy and quantile rule as `@datadog/sketches-js`' `DDSketch`, so it gives the same
 * quantiles and its protobuf (`toProto`) reads back with `DDSketch.fromProto` (Datadog's
 * `DDSketch` message: mapping, contiguous positive and negative bins, zero count).
 *
 * Why not `DDSketch` itself: a window of a few samples holds a few bins, and sketches-js keeps
 * every store as a dense array of at least 128 bins (two stores, and a mapping object, per
 * sketch), re-centres it as keys arrive, writes all 128 bins to protobuf, and looks its protobuf
 * module up with `require` on every `toProto`. One sketch per series and window made that the
 * largest cost of the window tiers, in time and in memory.
 */

/** Relative accuracy of every sketch: quantiles are within 1% of the exact value. */
export const RELATIVE_ACCURACY = 0.01;

// LogarithmicMapping of sketches-js, computed in the same order so that keys are bit-identical.
const GAMMA_MANTISSA = (2 * RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const GAMMA = 1 + GAMMA_MANTISSA;
const MULTIPLIER = (1 / Math.log1p(GAMMA_MANTISSA)) * Math.log(2);
/** Values at or below this (in absolute value) count as zero. */
export const MIN_POSSIBLE = Math.pow(2, -1023) * GAMMA;
const VALUE_FACTOR = 2 / (1 + GAMMA);

/** The bin of a positive value. */
export function keyOf(value: number): number {
  return Math.ceil(Math.log2(value) * MULTIPLIER);
}

/** The value a bin stands for (remembered for the keys of values from ~1e-36 to ~1e35). */
export function valueOf(key: number): number {
  const at = key + VALUE_CACHE_OFFSET;
  if (at >= 0 && at < VALUE_CACHE.length && (at | 0) === at) {
    const known = VALUE_CACHE[at] as number;
    if (known === known) return known; // not NaN: computed before
    return (VALUE_CACHE[at] = binValue(key));
  }
  return binValue(key);
}

/** `valueOf`, computed every time. */
export function binValue(key: number): number {
  return Math.pow(2, key / MULTIPLIER) * VALUE_FACTOR;
}

/** `valueOf` per key from −OFFSET on: a result's quantiles took a `Math.pow` each. */
const VALUE_CACHE_OFFSET = 4096;
const VALUE_CACHE = new Float64Array(2 * VALUE_CACHE_OFFSET).fill(NaN);

/** Bins of one sign: keys ascending, with their counts (only non-empty bins). */
export class Bins {
  readonly keys: number[] = [];
  readonly counts: number[] = [];
  /** Sum of the counts. */
  total = 0;

  get size(): number {
    return this.keys.length;
  }

  add(key: number, weight: number): void {
    const keys = this.keys;
    this.total += weight;
    // Values of one series sit in a few bins and mostly come near the last one: search from the end.
    let at = keys.length;
    while (at > 0 && (keys[at - 1] as number) > key) at--;
    if (at > 0 && keys[at - 1] === key) {
      (this.counts[at - 1] as number) += weight;
      return;
    }
    if (at === keys.length) {
      keys.push(key);
      this.counts.push(weight);
    } else {
      keys.splice(at, 0, key);
      this.counts.splice(at, 0, weight);
    }
  }

  /** Adds every bin of `other`. */
  addAll(other: Bins): void {
    for (let i = 0; i < other.keys.length; i++) this.add(other.keys[i] as number, other.counts[i] as number);
  }

  /** sketches-js' `DenseStore.keyAtRank`: the key at which the running count passes `rank`. */
  keyAtRank(rank: number, lower: boolean): number {
    let running = 0;
    for (let i = 0; i < this.keys.length; i++) {
      running += this.counts[i] as number;
      if ((lower && running > rank) || (!lower && running >= rank + 1)) return this.keys[i] as number;
    }
    return this.keys[this.keys.length - 1] ?? 0;
  }
}

/** The negative bins of a sketch that never saw a negative value: frozen, shared, empty. */
const NO_BINS: Bins = Object.freeze(
  Object.assign(new Bins(), {
    keys: Object.freeze([]) as unknown as number[],
    counts: Object.freeze([]) as unknown as number[],
  }),
);

export class QuantileSketch {
  readonly positive = new Bins();
  /**
   * Made with the first negative value: most series never see one, and a window's result keeps
   * its sketch alive as long as the tier above may need it (three objects fewer per result).
   */
  private neg: Bins | undefined;
  zeroCount = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  /** The bins of negative values (by magnitude); read only: `negativeBins()` to add to them. */
  get negative(): Bins {
    return this.neg ?? NO_BINS;
  }

  /** The bins of negative values, to add to (made if none yet). */
  negativeBins(): Bins {
    return (this.neg ??= new Bins());
  }

  accept(value: number, weight = 1): void {
    if (value > MIN_POSSIBLE) this.positive.add(keyOf(value), weight);
    else if (value < -MIN_POSSIBLE) this.negativeBins().add(keyOf(-value), weight);
    else this.zeroCount += weight;
    this.count += weight;
    this.sum += value * weight;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The value at quantile `q` (0 ≤ q ≤ 1) within the relative accuracy; NaN when empty. */
  getValueAtQuantile(q: number): number {
    if (q < 0 || q > 1 || this.count === 0) return NaN;
    const rank = q * (this.count - 1);
    const negatives = this.negative.total;
    if (rank < negatives) return -valueOf(this.negative.keyAtRank(negatives - rank - 1, false));
    if (rank < this.zeroCount + negatives) return 0;
    return valueOf(this.positive.keyAtRank(rank - this.zeroCount - negatives, true));
  }

  /** Adds `other` into this sketch (both signs, zeros and summary statistics). */
  merge(other: QuantileSketch): void {
    this.positive.addAll(other.positive);
    if (other.negative.size > 0) this.negativeBins().addAll(other.negative);
    this.zeroCount += other.zeroCount;
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  copy(): QuantileSketch {
    const out = new QuantileSketch();
    out.merge(this);
    return out;
  }

  /** Datadog's `DDSketch` protobuf message, as `DDSketch#toProto` writes it (bins trimmed to the used range). */
  toProto(): Buffer {
    out.reset();
    writeProto(out, this);
    return out.done();
  }
}

/**
 * The protobufs (`toProto`) of many sketches in one buffer, written in one pass and copied out
 * once: sketch i is `bytes.subarray(at[i], at[i + 1])`.
 */
export function sketchProtos(sketches: ArrayLike<QuantileSketch>): { bytes: Buffer; at: Int32Array } {
  const list = new SketchProtoList(sketches.length);
  for (let i = 0; i < sketches.length; i++) list.add(sketches[i] as QuantileSketch);
  return list.done();
}

/**
 * Sketches' protobufs appended one at a time into one buffer, as `sketchProtos` gives them: a
 * window's result is written as it is emitted and its sketch need not be kept until the write.
 */
export class SketchProtoList {
  private readonly out = new ProtoWriter();
  private at: Int32Array;
  private count = 0;

  constructor(expected = 64) {
    this.at = new Int32Array(Math.max(1, expected) + 1);
  }

  get length(): number {
    return this.count;
  }

  add(sketch: QuantileSketch): void {
    writeProto(this.out, sketch);
    if (this.count + 2 > this.at.length) {
      const grown = new Int32Array(this.at.length * 2);
      grown.set(this.at);
      this.at = grown;
    }
    this.at[++this.count] = this.out.length;
  }

  /** The bytes (sketch i: `bytes.subarray(at[i], at[i + 1])`); the list is not to be used after. */
  done(): { bytes: Buffer; at: Int32Array } {
    return { bytes: this.out.detach(), at: this.at.subarray(0, this.count + 1) };
  }
}

/** Appends a sketch's protobuf to `out`. */
function writeProto(out: ProtoWriter, sketch: QuantileSketch): void {
  out.tag(1, 2);
  out.u8(20); // the mapping's length: gamma and index offset (tag + f64 each), interpolation (tag + 0)
  out.tag(1, 1);
  out.f64(GAMMA);
  out.tag(2, 1);
  out.f64(0); // index offset
  out.tag(3, 0);
  out.u8(0); // interpolation NONE: the logarithmic mapping
  storeProto(out, 2, sketch.positive);
  storeProto(out, 3, sketch.negative);
  out.tag(4, 1);
  out.f64(sketch.zeroCount);
}

/** A `Store` message: the bins from the smallest to the largest key, empty ones as 0, and the first key. */
function storeProto(out: ProtoWriter, field: number, bins: Bins): void {
  const first = bins.keys[0] ?? 0;
  const length = bins.size === 0 ? 0 : (bins.keys[bins.size - 1] as number) - first + 1;
  const offset = zigzag(first);
  const counts = length * 8;
  const body = (counts > 0 ? 1 + varintSize(counts) + counts : 0) + 1 + varintSize(offset);
  out.tag(field, 2);
  out.varint(body);
  if (counts > 0) {
    out.tag(2, 2);
    out.varint(counts);
    let at = 0;
    for (let key = first; key < first + length; key++) {
      if (bins.keys[at] === key) out.f64(bins.counts[at++] as number);
      else out.f64(0);
    }
  }
  out.tag(3, 0);
  out.varint(offset);
}

/** sint32 as protobuf writes it. */
export function zigzag(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

/** Bytes of the unsigned varint (LEB128) of `n`. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

class ProtoWriter {
  private buffer = Buffer.allocUnsafe(4096);
  /** The buffer's memory, for doubles (a DataView's store is inlined; `writeDoubleLE` checks its arguments). */
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
  private at = 0;

  reset(): void {
    this.at = 0;
  }

  /** Bytes written since the last `reset`. */
  get length(): number {
    return this.at;
  }

  tag(field: number, wireType: number): void {
    this.u8((field << 3) | wireType);
  }

  u8(v: number): void {
    this.reserve(1);
    this.buffer[this.at++] = v;
  }

  varint(n: number): void {
    this.reserve(10);
    while (n >= 0x80) {
      this.buffer[this.at++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buffer[this.at++] = n;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  done(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.at));
  }

  /** The bytes written, not copied: the writer is not to be used after. */
  detach(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}

/** Reused by every `toProto`: one copy out per sketch. */
const out = new ProtoWriter();
