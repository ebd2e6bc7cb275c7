import { describe, expect, it } from 'vitest';
import { ByteWriter, Reader } from '../../core/accCodec.js';

/** Unsigned LEB128 as the definition spells it: seven bits a byte, low bits first. */
function leb128(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const low = v % 128;
    v = Math.floor(v / 128);
    if (v === 0) return [...out, low];
    out.push(low | 0x80);
  }
}

const VALUES = [
  0,
  1,
  127,
  128,
  300,
  2 ** 21 - 1,
  2 ** 21,
  2 ** 28 - 1,
  2 ** 28,
  2 ** 28 + 127,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 + 5,
  // A time in ms, and twice it (`num` writes 2v).
  1_796_400_000_123,
  3_592_800_000_246,
  2 ** 49 + 2 ** 28 + 1,
  2 ** 53 - 1,
];

describe('ByteWriter', () => {
  it('writes varints byte for byte as LEB128, on both sides of 2^28, and reads them back', () => {
    for (const v of VALUES) {
      const w = new ByteWriter(4);
      w.u8(0xee);
      w.varint(v);
      w.u8(0xff);
      const bytes = w.done();
      expect([...bytes], String(v)).toEqual([0xee, ...leb128(v), 0xff]);
      const r = new Reader(bytes);
      expect(r.u8()).toBe(0xee);
      expect(r.varint()).toBe(v);
      expect(r.u8()).toBe(0xff);
      r.end();
    }
  });

  it('writes numbers as the varint of twice them when whole, else as a float, and reads them back', () => {
    const numbers = [...VALUES.filter((v) => v <= 2 ** 52), -0, -1, 0.5, 1e300, Number.NaN, Infinity];
    const w = new ByteWriter(8);
    for (const v of numbers) w.num(v);
    const r = new Reader(w.done());
    for (const v of numbers) expect(Object.is(r.num(), v), String(v)).toBe(true);
    r.end();
  });
});
