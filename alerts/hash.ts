import xxhash from 'xxhash-wasm';

const { h64Raw } = await xxhash();

/** Separator between the parts of an identity; 0xff never occurs in UTF-8 text. */
const SEP = 0xff;

/**
 * XXH64 (seed 0) of the parts, UTF-8 and separated by the byte 0xff like `seriesId`, as 16
 * hex digits: stable across processes and releases.
 */
export function hashParts(parts: readonly string[]): string {
  const buffers: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) buffers.push(Buffer.of(SEP));
    buffers.push(Buffer.from(part, 'utf8'));
  });
  return h64Raw(Buffer.concat(buffers)).toString(16).padStart(16, '0');
}
