import { Observable, type Subscriber } from 'rxjs';

/**
 * A Subject for one subscriber: what is pushed with `next` goes to it, as it comes. rxjs' Subject
 * allocates per value (a closure and an iterator over its observers), and a stage pushes every
 * record's runs and every window result through one; with one subscriber there is nothing to
 * iterate. Values pushed with no subscriber (before it subscribes, after it leaves) are dropped,
 * as a Subject drops them; a second subscriber gets an error.
 */
export class Feed<T> extends Observable<T> {
  private target: Subscriber<T> | undefined;
  private done = false;

  constructor() {
    super((subscriber) => {
      if (this.target !== undefined) {
        subscriber.error(new Error('a feed takes one subscriber'));
        return undefined;
      }
      if (this.done) {
        subscriber.complete();
        return undefined;
      }
      this.target = subscriber;
      return () => {
        if (this.target === subscriber) this.target = undefined;
      };
    });
  }

  next(value: T): void {
    this.target?.next(value);
  }

  complete(): void {
    this.done = true;
    const target = this.target;
    this.target = undefined;
    target?.complete();
  }
}
