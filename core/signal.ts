/**
 * A moment that comes again and again (every record fetched written, a commit done): its
 * listeners are called each time it is emitted, until they unsubscribe.
 */
export class Signal {
  private readonly listeners = new Set<() => void>();

  /** Calls `listener` at each `emit` until the returned function is called. */
  on(listener: () => void): () => void {
    const call = () => listener();
    this.listeners.add(call);
    return () => this.listeners.delete(call);
  }

  /** Calls every listener (one that unsubscribes another meanwhile still runs this time). */
  emit(): void {
    for (const call of [...this.listeners]) call();
  }
}
