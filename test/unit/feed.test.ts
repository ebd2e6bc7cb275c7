import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Feed } from '../../streams/feed.js';

describe('Feed', () => {
  it('hands each value to its subscriber as it comes, through operators, then completes', () => {
    const feed = new Feed<number>();
    const seen: Array<number | 'done'> = [];
    feed.pipe(map((v) => v * 2)).subscribe({ next: (v) => seen.push(v), complete: () => seen.push('done') });
    feed.next(1);
    feed.next(2);
    expect(seen).toEqual([2, 4]);
    feed.complete();
    feed.next(3);
    expect(seen).toEqual([2, 4, 'done']);
  });

  it('drops values while nobody listens, as a Subject does, and refuses a second subscriber with an error', () => {
    const feed = new Feed<number>();
    feed.next(0);
    const seen: number[] = [];
    const subscription = feed.subscribe((v) => seen.push(v));
    feed.next(1);
    let refused: unknown;
    feed.subscribe({ error: (error: unknown) => (refused = error) });
    expect(String(refused)).toContain('one subscriber');
    subscription.unsubscribe();
    feed.next(2);
    expect(seen).toEqual([1]);
    // Free again once the first has left.
    feed.subscribe((v) => seen.push(v));
    feed.next(3);
    expect(seen).toEqual([1, 3]);
  });

  it('completes a subscriber that comes after the end at once', () => {
    const feed = new Feed<number>();
    feed.complete();
    let completed = false;
    feed.subscribe({ complete: () => (completed = true) });
    expect(completed).toBe(true);
  });
});
