import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The patch of patches/kafkajs+2.2.4.patch, applied by `npm ci` (postinstall: patch-package).
const require = createRequire(import.meta.url);
const crc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as ((b: Buffer) => number) & {
  native?: boolean;
};
const jsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => {
  writeInt32(v: number): unknown;
  writeBytes(b: Buffer): unknown;
  buffer: Buffer;
};

describe('kafkajs as patched (patches/kafkajs+2.2.4.patch)', () => {
  it('computes record batch checksums natively, equal to its own CRC-32C', () => {
    expect(crc32c.native).toBe(true);
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    for (const size of [0, 1, 7, 64, 4096, 1_000_003]) {
      const bytes = randomBytes(size);
      expect(crc32c(bytes)).toBe(jsCrc32c(bytes) >>> 0);
    }
  });

  it('encodes what it wrote, and nothing of the unzeroed buffer beyond it', () => {
    const encoder = new Encoder();
    const payload = randomBytes(3000);
    encoder.writeInt32(7);
    encoder.writeBytes(payload);
    const out = encoder.buffer;
    expect(out.length).toBe(4 + 4 + payload.length);
    expect(out.readInt32BE(0)).toBe(7);
    expect(out.readInt32BE(4)).toBe(payload.length);
    expect(out.subarray(8).equals(payload)).toBe(true);
  });
});
