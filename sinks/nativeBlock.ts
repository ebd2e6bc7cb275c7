/**
 * One block of ClickHouse's Native format, built column by column: the format both insert paths
 * send (sinks/insertNative.ts). Binary columns cost the engine no parsing (a TabSeparated insert
 * spent most of its CPU reading text) and keep every Float64 bit for bit (`-0`, NaN payloads).
 *
 * Layout (no block info: that belongs to the TCP protocol, not to the format):
 *   VarUInt columns, VarUInt rows, then per column: name (String), type (String), the values.
 * Values of the few types our tables need:
 *   String: VarUInt byte length + UTF-8 bytes; UInt32 / UInt64 / Int64 / Float64: little endian;
 *   DateTime64(3): Int64 milliseconds; Enum8: Int8 code;
 *   Map(K, V): as Array(Tuple(K, V)) — every row's cumulative entry count (UInt64), then all
 *   keys, then all values.
 * `LowCardinality(String)`: see `lowCardinalityStrings`; a `String` column also fills one (the insert converts it).
 *
 * @example
 * const block = new NativeBlock(rows.length, 2);
 * block.strings('metric', rows, (r) => r.name);
 * block.float64s('value', rows, (r) => r.value);
 * const bytes = block.finish();
 */
export class NativeBlock {
  private buffer: Buffer;
  /** Bytes written so far. */
  private at = 0;
  private columns = 0;
  /** Strings already encoded (length prefix + UTF-8), by text: metric names, label names and values repeat. */
  private readonly encoded = new Map<string, Buffer>();

  constructor(
    readonly rows: number,
    private readonly columnCount: number,
  ) {
    // Room for fixed-width columns; `reserve` grows it for longer strings.
    this.buffer = Buffer.allocUnsafe(64 + rows * 8 * Math.max(1, columnCount));
    this.varUInt(columnCount);
    this.varUInt(rows);
  }

  /** The block's bytes; every declared column must have been written. */
  finish(): Buffer {
    if (this.columns !== this.columnCount)
      throw new Error(`a Native block of ${this.columnCount} columns got ${this.columns}`);
    return this.buffer.subarray(0, this.at);
  }

  strings<T>(name: string, rows: ReadonlyArray<T>, value: (row: T) => string): void {
    this.header(name, 'String', rows.length);
    for (const row of rows) this.string(value(row));
  }

  uint64s<T>(name: string, rows: ReadonlyArray<T>, value: (row: T) => bigint): void {
    this.header(name, 'UInt64', rows.length);
    const column = new BigUint64Array(rows.length);
    for (let i = 0; i < rows.length; i++) column[i] = value(rows[i] as T);
    this.bytes(column);
  }

  uint32s<T>(name: string, rows: ReadonlyArray<T>, value: (row: T) => number): void {
    this.header(name, 'UInt32', rows.length);
    const column = new Uint32Array(rows.length);
    for (let i = 0; i < rows.length; i++) column[i] = value(rows[i] as T);
    this.bytes(column);
  }

  float64s<T>(name: string, rows: ReadonlyArray<T>, value: (row: T) => number): void {
    this.header(name, 'Float64', rows.length);
    const column = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) column[i] = value(rows[i] as T);
    this.bytes(column);
  }

  /** A UInt32 column straight from a typed array. */
  uint32Array(name: string, values: Uint32Array): void {
    this.header(name, 'UInt32', values.length);
    this.bytes(values);
  }

  /** A Float64 column straight from a typed array. */
  float64Array(name: string, values: Float64Array): void {
    this.header(name, 'Float64', values.length);
    this.bytes(values);
  }

  /** A `DateTime64(3, '<timeZone>')` column from a typed array of milliseconds since the epoch. */
  timeArray(name: string, ms: Float64Array, timeZone = 'UTC'): void {
    this.header(name, `DateTime64(3, '${timeZone}')`, ms.length);
    this.bytes(int64Halves(ms.length, (i) => ms[i] as number));
  }

  /** Milliseconds since the epoch into `DateTime64(3, '<timeZone>')`. */
  times<T>(name: string, rows: ReadonlyArray<T>, value: (row: T) => number, timeZone = 'UTC'): void {
    this.header(name, `DateTime64(3, '${timeZone}')`, rows.length);
    this.bytes(int64Halves(rows.length, (i) => value(rows[i] as T)));
  }

  /** An Enum8 column; `codes` maps each value to its code and also spells the type. */
  enum8s<T, V extends string>(
    name: string,
    rows: ReadonlyArray<T>,
    codes: Readonly<Record<V, number>>,
    value: (row: T) => V,
  ): void {
    const members = Object.entries<number>(codes).map(([k, code]) => `'${k}' = ${code}`);
    this.header(name, `Enum8(${members.join(', ')})`, rows.length);
    const column = new Int8Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const v = value(rows[i] as T);
      const code = codes[v];
      if (code === undefined) throw new Error(`${name}: ${String(v)} is not one of ${members.join(', ')}`);
      column[i] = code;
    }
    this.bytes(column);
  }

  /**
   * A `LowCardinality(String)` column: `keys` is the dictionary and `index[i]` the key of row i.
   * Sent as the engine writes it (a dictionary after the type's default '', then each row's
   * position in it, in the narrowest unsigned width), so the insert converts nothing and the
   * block carries a byte or two per row instead of the text.
   */
  lowCardinalityStrings(name: string, keys: ReadonlyArray<string>, index: Int32Array): void {
    this.header(name, 'LowCardinality(String)', index.length);
    // A block of no rows carries no column data (the reader skips it), not even the dictionary.
    if (index.length === 0) return;
    const size = keys.length + 1;
    const width = size <= 0x100 ? 0 : size <= 0x1_0000 ? 1 : 2;
    // Shared dictionaries with additional keys (serialization version 1); the keys of this block
    // are all additional, and they update the dictionary.
    this.uint64(1);
    this.uint64(width | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY);
    this.uint64(size);
    this.string('');
    for (const key of keys) this.string(key);
    this.uint64(index.length);
    const n = index.length;
    const out = width === 0 ? new Uint8Array(n) : width === 1 ? new Uint16Array(n) : new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const k = index[i] as number;
      if (k < 0 || k >= keys.length) throw new Error(`${name}: row ${i} has no key (${k})`);
      out[i] = k + 1;
    }
    this.bytes(out);
  }

  /** A `UInt64` column from 32-bit halves: `low[i]` and `high[i]` of row i. */
  uint64Halves(name: string, low: Uint32Array, high: Uint32Array): void {
    this.header(name, 'UInt64', low.length);
    if (high.length !== low.length) throw new Error(`${name}: ${low.length} low halves, ${high.length} high`);
    const column = new Uint32Array(low.length * 2);
    for (let i = 0; i < low.length; i++) {
      column[2 * i] = low[i] as number;
      column[2 * i + 1] = high[i] as number;
    }
    this.bytes(column);
  }

  /** An Enum8 column straight from its codes. */
  enum8Array<V extends string>(name: string, codes: Readonly<Record<V, number>>, values: Int8Array): void {
    const members = Object.entries<number>(codes).map(([k, code]) => `'${k}' = ${code}`);
    this.header(name, `Enum8(${members.join(', ')})`, values.length);
    const known = new Uint8Array(256);
    for (const code of Object.values<number>(codes)) known[code & 0xff] = 1;
    for (let i = 0; i < values.length; i++)
      if (known[(values[i] as number) & 0xff] !== 1)
        throw new Error(`${name}: code ${values[i]} is not one of ${members.join(', ')}`);
    this.bytes(values);
  }

  /** A Map(String, String) column from each row's entries. */
  stringMaps<T>(
    name: string,
    rows: ReadonlyArray<T>,
    entries: (row: T) => ReadonlyArray<readonly [string, string]>,
  ): void {
    this.header(name, 'Map(String, String)', rows.length);
    const offsets = new BigUint64Array(rows.length);
    let total = 0;
    for (let i = 0; i < rows.length; i++) offsets[i] = BigInt((total += entries(rows[i] as T).length));
    this.bytes(offsets);
    for (const row of rows) for (const [k] of entries(row)) this.string(k);
    for (const row of rows) for (const [, v] of entries(row)) this.string(v);
  }

  private header(name: string, type: string, rows: number): void {
    if (rows !== this.rows) throw new Error(`column ${name} has ${rows} rows, the block ${this.rows}`);
    if (this.columns === this.columnCount)
      throw new Error(`a Native block of ${this.columnCount} columns got more`);
    this.columns++;
    this.string(name);
    this.string(type);
  }

  private string(text: string): void {
    let encoded = this.encoded.get(text);
    if (encoded === undefined) {
      const bytes = Buffer.byteLength(text, 'utf8');
      encoded = Buffer.allocUnsafe(varUIntLength(bytes) + bytes);
      let at = 0;
      for (let v = bytes; ; v = Math.floor(v / 128)) {
        if (v < 0x80) {
          encoded[at++] = v;
          break;
        }
        encoded[at++] = (v & 0x7f) | 0x80;
      }
      encoded.write(text, at, 'utf8');
      if (this.encoded.size < MAX_ENCODED) this.encoded.set(text, encoded);
    }
    this.reserve(encoded.length);
    if (encoded.length <= 32) {
      // Short strings (names, label values) copy faster byte by byte than through a native call.
      for (let i = 0; i < encoded.length; i++) this.buffer[this.at + i] = encoded[i] as number;
    } else encoded.copy(this.buffer, this.at);
    this.at += encoded.length;
  }

  /** Bytes of a typed array column, as they lie in memory: little endian on every platform Node runs on here. */
  private bytes(column: ArrayBufferView): void {
    this.reserve(column.byteLength);
    this.buffer.set(new Uint8Array(column.buffer, column.byteOffset, column.byteLength), this.at);
    this.at += column.byteLength;
  }

  private varUInt(value: number): void {
    this.reserve(10);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.at++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buffer[this.at++] = v;
  }

  /** A little-endian UInt64 (a safe integer). */
  private uint64(value: number): void {
    this.reserve(8);
    this.buffer.writeUInt32LE(value >>> 0, this.at);
    this.buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), this.at + 4);
    this.at += 8;
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}

// Typed array columns are copied as they lie in memory, which is the format's byte order only here.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error('the Native block encoder needs a little-endian machine');

/** Flags of a LowCardinality column's index type (ClickHouse's SerializationLowCardinality). */
const HAS_ADDITIONAL_KEYS = 1 << 9;
const NEED_UPDATE_DICTIONARY = 1 << 10;

/** Distinct strings a block keeps encoded, at most. */
const MAX_ENCODED = 100_000;

/**
 * Int64 values as two 32-bit halves, without a BigInt per value: `>>> 0` is the value modulo 2³²
 * (exact for any safe integer), the floor division the high half in two's complement.
 */
function int64Halves(n: number, value: (i: number) => number): Uint32Array {
  const column = new Uint32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const v = value(i);
    column[2 * i] = v >>> 0;
    column[2 * i + 1] = Math.floor(v / 0x1_0000_0000);
  }
  return column;
}

function varUIntLength(value: number): number {
  let length = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) length++;
  return length;
}
