import xxhash from 'xxhash-wasm';

const { h64Raw } = await xxhash();

/** A series as the `series` store keeps it: what its id was hashed from, and its kind. */
export interface SeriesMeta {
  name: string;
  labels: Array<[string, string]>;
  kind: 'gauge' | 'counter';
}

/** Separator between the parts of a series' identity; 0xff never occurs in UTF-8 text. */
const SEP = 0xff;
let scratch = Buffer.allocUnsafe(4096);

/**
 * series_id: XXH64 (seed 0) of the metric name and the label pairs sorted by name, every part
 * UTF-8 and separated by the byte 0xff. Stable across processes and releases, and the same as
 * ClickHouse's `xxHash64(arrayStringConcat([metric, k1, v1, k2, v2, …], '\xff'))`.
 * `labels` must already be sorted by name (see `normalizeSample`).
 *
 * ASCII text (the common case) is copied byte by byte in JS, which beats one native UTF-8
 * write per part for short strings; anything else takes the general path.
 */
export function seriesId(name: string, labels: ReadonlyArray<readonly [string, string]>): bigint {
  let need = name.length;
  for (const [k, v] of labels) need += k.length + v.length + 2;
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
  const out = scratch;
  let at = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7f) return hashParts(name, labels);
    out[at++] = c;
  }
  for (const [k, v] of labels) {
    out[at++] = SEP;
    for (let i = 0; i < k.length; i++) {
      const c = k.charCodeAt(i);
      if (c > 0x7f) return hashParts(name, labels);
      out[at++] = c;
    }
    out[at++] = SEP;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c > 0x7f) return hashParts(name, labels);
      out[at++] = c;
    }
  }
  return h64Raw(out.subarray(0, at));
}

/** Any text: each part encoded as UTF-8, separators as the byte 0xff. */
function hashParts(name: string, labels: ReadonlyArray<readonly [string, string]>): bigint {
  let need = Buffer.byteLength(name) + 1;
  for (const [k, v] of labels) need += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
  let at = scratch.write(name, 0);
  for (const [k, v] of labels) {
    scratch[at++] = SEP;
    at += scratch.write(k, at);
    scratch[at++] = SEP;
    at += scratch.write(v, at);
  }
  return h64Raw(scratch.subarray(0, at));
}

/** True when two sorted label sets are equal: samples of one series need not be hashed again. */
export function sameLabels(
  a: ReadonlyArray<readonly [string, string]>,
  b: ReadonlyArray<readonly [string, string]>,
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as readonly [string, string];
    const y = b[i] as readonly [string, string];
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}
