import { badRequest, tooLarge } from '../errors.js';

/** The stream identifier chunk that starts the framed format: chunk type 0xff, length 6, "sNaPpY". */
const FRAMED_STREAM_START = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);

/**
 * Below these many bytes a JavaScript loop copies faster than a native call (measured on
 * remote_write bodies: `copyWithin` is cheap to call, `Buffer#copy` is not).
 */
const NATIVE_LITERAL_BYTES = 64;
const NATIVE_COPY_BYTES = 32;

/**
 * Decompresses a snappy block (the raw format Prometheus remote write uses, not the framed
 * stream format). The uncompressed length the block declares is checked against `maxBytes`
 * before anything is allocated; every literal and copy is bounds-checked, and the output must
 * come out exactly as long as declared. Throws a 413 `HttpError` for a declared length beyond
 * `maxBytes` and a 400 for anything malformed, saying at which input byte.
 *
 * Written here rather than taken from snappyjs because snappyjs accepts truncated blocks
 * (a copy tag at the very end decodes as zeros) and cannot tell an output shorter than declared.
 */
export function uncompressSnappyBlock(block: Buffer, maxBytes: number): Buffer {
  if (block.length === 0) throw badRequest('snappy: empty body');
  if (block.length >= FRAMED_STREAM_START.length && block.subarray(0, 10).equals(FRAMED_STREAM_START)) {
    throw badRequest('snappy: body is in the framed (stream) format; remote write takes the block format');
  }
  const end = block.length;
  // The preamble: the uncompressed length as a little-endian base-128 varint of at most 32 bits.
  let length = 0;
  let ip = 0;
  for (let shift = 0; ; shift += 7) {
    if (ip >= end || shift > 28) throw badRequest('snappy: invalid uncompressed length preamble');
    const b = block[ip++] as number;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > 0xffffffff) throw badRequest('snappy: invalid uncompressed length preamble');
  if (length > maxBytes) {
    throw tooLarge(`snappy: uncompressed length ${length} exceeds ${maxBytes} bytes`);
  }

  const out = Buffer.allocUnsafe(length);
  const inView = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let op = 0;
  while (ip < end) {
    const at = ip;
    const tag = block[ip++] as number;
    let len: number;
    if ((tag & 3) === 0) {
      len = (tag >>> 2) + 1;
      if (len > 60) {
        // 61..64: the literal's length - 1 follows in 1..4 little-endian bytes.
        const bytes = len - 60;
        if (ip + bytes > end) throw badRequest(`snappy: literal length at byte ${at} is cut off`);
        len = 0;
        for (let i = 0; i < bytes; i++) len += (block[ip + i] as number) * 2 ** (8 * i);
        len += 1;
        ip += bytes;
      }
      if (ip + len > end) {
        throw badRequest(`snappy: literal of ${len} bytes at byte ${at} runs past the end of the input`);
      }
      if (op + len > length) {
        throw badRequest(`snappy: literal at byte ${at} goes beyond the declared length ${length}`);
      }
      if (len < 4) {
        for (let i = 0; i < len; i++) out[op + i] = block[ip + i] as number;
      } else if (len < NATIVE_LITERAL_BYTES) {
        // Four bytes at a time; the last word overlaps the one before unless len is a multiple of 4.
        const last = len - 4;
        for (let i = 0; i < last; i += 4) outView.setUint32(op + i, inView.getUint32(ip + i, true), true);
        outView.setUint32(op + last, inView.getUint32(ip + last, true), true);
      } else {
        block.copy(out, op, ip, ip + len);
      }
      ip += len;
      op += len;
      continue;
    }

    let offset: number;
    if ((tag & 3) === 1) {
      if (ip + 1 > end) throw badRequest(`snappy: copy at byte ${at} is cut off`);
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | (block[ip] as number);
      ip += 1;
    } else if ((tag & 3) === 2) {
      if (ip + 2 > end) throw badRequest(`snappy: copy at byte ${at} is cut off`);
      len = (tag >>> 2) + 1;
      offset = block.readUInt16LE(ip);
      ip += 2;
    } else {
      if (ip + 4 > end) throw badRequest(`snappy: copy at byte ${at} is cut off`);
      len = (tag >>> 2) + 1;
      offset = block.readUInt32LE(ip);
      ip += 4;
    }
    if (offset === 0 || offset > op) {
      throw badRequest(`snappy: copy at byte ${at} refers ${offset} bytes back, with ${op} bytes written`);
    }
    if (op + len > length) {
      throw badRequest(`snappy: copy at byte ${at} goes beyond the declared length ${length}`);
    }
    const from = op - offset;
    if (offset >= len && len >= NATIVE_COPY_BYTES) {
      out.copyWithin(op, from, from + len);
    } else if (offset >= 4) {
      // Forward, four bytes at a time: every word read is already written when offset >= 4,
      // so an overlapping copy repeats the last `offset` bytes as it must.
      const last = len - 4;
      for (let i = 0; i < last; i += 4) outView.setUint32(op + i, outView.getUint32(from + i, true), true);
      outView.setUint32(op + last, outView.getUint32(from + last, true), true);
    } else {
      for (let i = 0; i < len; i++) out[op + i] = out[from + i] as number;
    }
    op += len;
  }
  if (op !== length) {
    throw badRequest(`snappy: block decompresses to ${op} bytes, its preamble declares ${length}`);
  }
  return out;
}
