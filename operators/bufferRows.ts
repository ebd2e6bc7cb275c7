import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';

export interface BufferRowsOptions<T> {
  /** Emit as soon as the buffered items weigh this much. */
  maxRows: number;
  /** Emit at the latest this long after the first item entered an empty buffer. */
  maxMs: number;
  /** Weight of one item (rows it carries). */
  weigh: (item: T) => number;
  scheduler?: SchedulerLike;
}

/**
 * Buffers items and emits them as one array when their weight reaches `maxRows` or when the
 * oldest has waited `maxMs`, whichever comes first; emits what is left when the source completes.
 * Like `bufferTime(maxMs, null, n)`, but counting rows instead of items and never emitting [].
 *
 * ```ts
 * processed$.pipe(bufferRows({ maxRows: 100_000, maxMs: 1000, weigh: (b) => b.rows.length }))
 * ```
 */
export function bufferRows<T>(options: BufferRowsOptions<T>): OperatorFunction<T, T[]> {
  const { maxRows, maxMs, weigh, scheduler = asyncScheduler } = options;
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let buffer: T[] = [];
      let rows = 0;
      // Pending age-based emission of the current buffer; null while the buffer is empty.
      let timer: Subscription | null = null;

      const emit = () => {
        timer?.unsubscribe();
        timer = null;
        if (buffer.length === 0) return;
        const out = buffer;
        buffer = [];
        rows = 0;
        subscriber.next(out);
      };

      const subscription = source.subscribe({
        next(item) {
          buffer.push(item);
          rows += weigh(item);
          if (rows >= maxRows) emit();
          else timer ??= scheduler.schedule(emit, maxMs);
        },
        error(error) {
          subscriber.error(error);
        },
        complete() {
          emit();
          subscriber.complete();
        },
      });

      return () => {
        timer?.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
