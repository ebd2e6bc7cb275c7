import { describe, expect, it } from 'vitest';
import { InFlight } from '../../streams/kafkaSource.js';

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
