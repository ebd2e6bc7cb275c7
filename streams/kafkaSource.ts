import { Observable } from 'rxjs';
import type { PartitionBatch, ProcessedBatch } from '../core/records.js';
import { Signal } from '../core/signal.js';
import type { ConsumerRuntime } from './consumerRuntime.js';

/** Identifies a fetched batch from the source to the commit (the batch objects change on the way). */
export function batchKey(b: {
  topic: string;
  partition: number;
  lastOffset: number;
  generation: number;
}): string {
  return `${b.generation}:${b.topic}:${b.partition}:${b.lastOffset}`;
}

/**
 * Counts the bytes of the records fetched but not yet written, and holds the fetch loop while
 * there are too many: the backpressure between the Kafka source and the sinks. Bytes, not
 * records, so that batches of 1 and of 100 samples per record weigh what they cost. A batch
 * weighs its records as fetched until it is decoded, then what it holds from then on
 * (`reweigh`): its columns, a third of the records' bytes on the bench's input.
 */
export class InFlight {
  private bytes = 0;
  /** Bytes of each batch in flight, by `batchKey`. */
  private readonly batches = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private readonly emptied = new Signal();

  get empty(): boolean {
    return this.batches.size === 0;
  }

  /**
   * Calls `listener` each time the last batch in flight is released (not at once when none is in
   * flight), until the returned function is called.
   */
  onEmpty(listener: () => void): () => void {
    return this.emptied.on(listener);
  }

  add(key: string, bytes: number): void {
    this.batches.set(key, (this.batches.get(key) ?? 0) + bytes);
    this.bytes += bytes;
  }

  /** A batch in flight weighs `bytes` from now on (decoded: its records' buffers are no longer held). */
  reweigh(key: string, bytes: number): void {
    const before = this.batches.get(key);
    if (before === undefined) return;
    this.batches.set(key, bytes);
    this.bytes += bytes - before;
    if (bytes < before) this.wake();
  }

  release(key: string): void {
    this.bytes -= this.batches.get(key) ?? 0;
    this.batches.delete(key);
    this.wake();
    if (this.batches.size === 0) this.emptied.emit();
  }

  private wake(): void {
    const ready = this.waiters;
    this.waiters = [];
    for (const wake of ready) wake();
  }

  /** Resolves once at most `limit` bytes are in flight, calling `heartbeat` while it waits. */
  async below(limit: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<void> {
    await heartbeatUntil(
      () => this.bytes <= limit,
      () => new Promise<void>((wake) => this.waiters.push(wake)),
      { heartbeat, isRunning, everyMs: 1000 },
    );
  }
}

/**
 * Waits in a batch handler until `done()`, looking again when `wake()` settles or every
 * `everyMs`, and heartbeating after each look: the group keeps the member meanwhile, and a
 * rebalance reaches it (the heartbeat throws, kafkajs rejoins and fetches again).
 */
async function heartbeatUntil(
  done: () => boolean,
  wake: () => Promise<unknown>,
  o: { heartbeat: () => Promise<void>; isRunning: () => boolean; everyMs: number },
): Promise<void> {
  while (!done() && o.isRunning()) {
    await Promise.race([wake(), delay(o.everyMs)]);
    await o.heartbeat();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface KafkaSourceOptions {
  runtime: ConsumerRuntime;
  inFlight: InFlight;
  maxInFlightBytes: number;
  /**
   * Batches wait for this before they go on (heartbeating meanwhile, so that a rebalance still
   * reaches the consumer): stream threads of one process start processing once every one of them
   * has its partitions, not with all of them in the first thread to join.
   */
  processAfter?: Promise<unknown>;
}

/**
 * The offsets of a fetch's messages as numbers: the patched client's records have them so
 * (`offsetNumber`, patches/kafkajs+*.patch); others as the client's decimal text.
 */
export function offsetsOf(messages: ReadonlyArray<{ offset: string; offsetNumber?: number }>): Float64Array {
  const offsets = new Float64Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as (typeof messages)[number];
    offsets[i] = m.offsetNumber ?? Number(m.offset);
  }
  return offsets;
}

/**
 * What a fetched record weighs in flight: its key and value, and 64 bytes for the rest. Read from
 * the patched client's lengths where it has them (its `key` and `value` make a Buffer when read).
 */
export function recordBytes(m: {
  key: Buffer | null;
  value: Buffer | null;
  keyLength?: number;
  valueLength?: number;
}): number {
  const key = m.keyLength ?? m.key?.length ?? 0;
  const value = m.valueLength ?? m.value?.length ?? 0;
  return Math.max(0, key) + Math.max(0, value) + 64;
}

/**
 * What a decoded batch holds while in flight: its columns' arrays (29 bytes a sample, 41 with
 * their origin behind a repartition topic, up to twice that for a batch whose arrays grew as it
 * was read), its series (16 bytes each where validation shares them with the batches before and
 * after, ~320 behind a repartition topic, which describes them again for each batch), its
 * rejects as `recordBytes` weighs a record (their bytes are copies: `rejectedRecord`).
 */
export function processedBytes(batch: ProcessedBatch): number {
  const { samples, rejects } = batch;
  const { seriesIndex, ts, value, counter, offset, origin } = samples;
  let bytes =
    seriesIndex.buffer.byteLength +
    ts.buffer.byteLength +
    value.buffer.byteLength +
    counter.buffer.byteLength +
    offset.buffer.byteLength;
  if (origin) bytes += origin.partition.buffer.byteLength + origin.offset.buffer.byteLength;
  bytes += samples.series.length * (origin ? 320 : 16);
  for (const r of rejects) bytes += recordBytes(r);
  return bytes;
}

/**
 * The source stage: the runtime's topics as an Observable of per-partition record batches,
 * stamped with the group generation they were fetched in. Offsets are never committed here: the
 * sink stage commits them once every effect of the records is durable. The fetch loop pauses
 * while too many records are in flight; the Observable fails when the consumer does.
 */
export function kafkaSource(options: KafkaSourceOptions): Observable<PartitionBatch> {
  const { runtime, inFlight, maxInFlightBytes, processAfter } = options;
  let open = processAfter === undefined;
  processAfter?.then(
    () => (open = true),
    () => (open = true),
  );
  return new Observable<PartitionBatch>((subscriber) => {
    runtime.done.catch((error: unknown) => subscriber.error(error));
    runtime
      .start(async (batch, { heartbeat, isCurrent, resolveOffset }) => {
        if (!open) {
          await heartbeatUntil(
            () => open,
            () => processAfter as Promise<unknown>,
            {
              heartbeat,
              isRunning: isCurrent,
              everyMs: 250,
            },
          );
          if (!isCurrent()) return;
        }
        // The client's record objects go on as they are (no copy per record).
        const records = batch.messages;
        const offsets = offsetsOf(records);
        let bytes = 0;
        for (const m of records) bytes += recordBytes(m);
        const fetched: PartitionBatch = {
          topic: batch.topic,
          partition: batch.partition,
          records,
          offsets,
          lastOffset: batch.lastOffset,
          generation: batch.generation,
        };
        inFlight.add(batchKey(fetched), bytes);
        subscriber.next(fetched);
        // Marks the fetch position only; the commit happens after the sinks.
        resolveOffset(batch.lastOffset);
        await inFlight.below(maxInFlightBytes, heartbeat, isCurrent);
      })
      .catch((error: unknown) => subscriber.error(error));
  });
}
