import xxhash from 'xxhash-wasm';

const { h64Raw } = await xxhash();

/** Separator between the parts of a series' identity; 0xff never occurs in UTF-8 text. */
const SEP = 0xff;
let scratch = Buffer.allocUnsafe(4096);

/** Series ids by identity string; cleared when full, so memory stays bounded for any cardinality. */
const cache = new Map<string, bigint>();
const CACHE_LIMIT = 500_000;
const SEP_CHAR = '\xff';

/**
 * series_id: XXH64 (seed 0) of the metric name and the label pairs sorted by name, every part
 * UTF-8 and separated by the byte 0xff. Stable across processes and releases, and the same as
 * ClickHouse's `xxHash64(arrayStringConcat([metric, k1, v1, k2, v2, …], '\xff'))`.
 * `labels` must already be sorted by name (see `normalizeSample`).
 *
 * The same series arrives again and again, so ids are cached by the joined identity string.
 * For ASCII text (the common case) that string, written as latin1 with U+00FF for the
 * separator, is exactly the bytes to hash: one native write instead of one per part.
 */
export function seriesId(name: string, labels: ReadonlyArray<readonly [string, string]>): bigint {
  // Non-ASCII text is hashed part by part and not cached: a U+00FF in a value could make two
  // identities' joined strings equal.
  if (!isAscii(name)) return hashParts(name, labels);
  let identity = name;
  for (const [k, v] of labels) {
    if (!isAscii(k) || !isAscii(v)) return hashParts(name, labels);
    identity += SEP_CHAR + k + SEP_CHAR + v;
  }
  const known = cache.get(identity);
  if (known !== undefined) return known;
  if (identity.length > scratch.length) scratch = Buffer.allocUnsafe(identity.length * 2);
  const id = h64Raw(scratch.subarray(0, scratch.write(identity, 0, 'latin1')));
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(identity, id);
  return id;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
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
