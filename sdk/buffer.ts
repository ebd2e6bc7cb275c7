import type { Sample } from './sample.js';

/**
 * The bounded queue of samples waiting to be sent, oldest first: a ring of `capacity` slots
 * that drops its oldest samples to make room, so that memory stays bounded however long the
 * collector is away. Every method that can drop returns how many samples it dropped.
 */
export class SampleBuffer {
  readonly capacity: number;
  private readonly slots: Array<Sample | undefined>;
  /** Index of the oldest sample. */
  private head = 0;
  private size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.slots = new Array<Sample | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Appends samples after the newest, dropping the oldest ones beyond capacity. */
  push(samples: readonly Sample[]): number {
    let dropped = 0;
    for (const sample of samples) {
      if (this.size === this.capacity) {
        this.slots[this.head] = undefined;
        this.head = (this.head + 1) % this.capacity;
        this.size--;
        dropped++;
      }
      this.slots[(this.head + this.size) % this.capacity] = sample;
      this.size++;
    }
    return dropped;
  }

  /** Removes and returns up to `count` samples, oldest first. */
  shift(count: number): Sample[] {
    const taken: Sample[] = [];
    while (taken.length < count && this.size > 0) {
      taken.push(this.slots[this.head] as Sample);
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    return taken;
  }

  /**
   * Puts samples that were taken but not sent back in front, in their order. They are older
   * than anything in the buffer, so they are the ones dropped when it overflows.
   */
  unshift(samples: readonly Sample[]): number {
    const dropped = Math.max(0, this.size + samples.length - this.capacity);
    for (let i = samples.length - 1; i >= dropped; i--) {
      this.head = (this.head - 1 + this.capacity) % this.capacity;
      this.slots[this.head] = samples[i];
      this.size++;
    }
    return dropped;
  }

  /** Empties the buffer; returns how many samples it held. */
  clear(): number {
    const held = this.size;
    this.slots.fill(undefined);
    this.head = 0;
    this.size = 0;
    return held;
  }
}
