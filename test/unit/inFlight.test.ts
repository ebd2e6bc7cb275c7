import { describe, expect, it } from 'vitest';
import { InFlight, recordBytes } from '../../streams/kafkaSource.js';

describe('InFlight.onEmpty', () => {
  it('calls back each time the last batch in flight is released, not before, until unsubscribed', () => {
    const inFlight = new InFlight();
    let calls = 0;
    const off = inFlight.onEmpty(() => calls++);
    inFlight.add('a', 10);
    inFlight.add('b', 20);
    inFlight.release('a');
    expect(calls).toBe(0);
    expect(inFlight.empty).toBe(false);
    inFlight.release('b');
    expect(calls).toBe(1);
    expect(inFlight.empty).toBe(true);
    inFlight.add('c', 5);
    inFlight.release('c');
    expect(calls).toBe(2);
    off();
    inFlight.add('d', 5);
    inFlight.release('d');
    expect(calls).toBe(2);
  });

  it('lets a listener unsubscribe while being called, and calls the others', () => {
    const inFlight = new InFlight();
    const seen: string[] = [];
    const offFirst = inFlight.onEmpty(() => {
      seen.push('first');
      offFirst();
    });
    inFlight.onEmpty(() => seen.push('second'));
    inFlight.add('a', 1);
    inFlight.release('a');
    inFlight.add('b', 1);
    inFlight.release('b');
    expect(seen).toEqual(['first', 'second', 'second']);
  });
});

describe('recordBytes', () => {
  it("weighs a record by its key and value, from the client's lengths without making its Buffers", () => {
    expect(recordBytes({ key: Buffer.from('ab'), value: Buffer.from('cdef') })).toBe(2 + 4 + 64);
    expect(recordBytes({ key: null, value: null })).toBe(64);
    const patched = {
      keyLength: -1,
      valueLength: 10,
      get key(): Buffer | null {
        throw new Error('key read');
      },
      get value(): Buffer | null {
        throw new Error('value read');
      },
    };
    expect(recordBytes(patched)).toBe(10 + 64);
  });
});
