import type { Kafka, Producer } from 'kafkajs';
import { messageOf } from '../core/errors.js';
import { ensureTopics, sendAll } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { NormalizedSample } from '../core/validate.js';
import { valueSubject } from '../producer/produce.js';
import { batchSchema, batchType, type Sample, type SampleBatch } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import { sampleBatchBytes, toRecords, toSampleBatch, type EncodedBatch } from './batch.js';
import { HttpError } from './errors.js';
import { encodeLogged } from './intake.js';
import { entryBytes, WalFullError, WriteAheadLog, type WalOptions } from './wal.js';

/** WAL bytes drained per produce round. */
const DRAIN_BYTES = 4 * 1024 * 1024;
/** The usual request size is a moving average over about this many requests. */
const USUAL_OVER = 16;

export interface ForwarderOptions {
  kafka: Kafka;
  registry: Registry;
  topic: string;
  /** Partitions of the topic when the collector creates it. */
  partitions: number;
  wal: WalOptions;
  log: Logger;
  /** Longest pause between attempts to reach Kafka again while the log is not empty. */
  maxRetryDelayMs?: number;
}

export type Destination = 'kafka' | 'wal';

/**
 * Gets accepted samples durably into Kafka: straight to the metrics topic while Kafka
 * answers, otherwise into the write-ahead log, which drains in order once Kafka is back
 * (while the log is not empty, new samples queue behind it, so order is kept).
 *
 * Records are Avro `SampleBatch`es in the Confluent wire format; the samples of one request
 * are grouped by the partition their series key (the series id, as `produce` keys records)
 * maps to under Kafka's default partitioner, so the topic stays co-partitioned by series.
 */
export class Forwarder {
  private readonly wal: WriteAheadLog;
  private producer: Producer | undefined;
  private schemaId: number | undefined;
  private partitions: number | undefined;
  private draining: Promise<void> | undefined;
  /** Writes waiting for the produce request in flight to finish. */
  private readonly queue: Array<{
    batch: EncodedBatch;
    resolve: (to: Destination) => void;
    reject: (error: unknown) => void;
  }> = [];
  private sending = false;
  private readonly drainedWaiters: Array<() => void> = [];
  private closed = false;
  private wake: (() => void) | undefined;
  /**
   * What a request's samples take in the log, on average over the last requests (taken or
   * refused, straight to Kafka or not); undefined before the first request.
   */
  private usualEntryBytes: number | undefined;

  constructor(private readonly options: ForwarderOptions) {
    this.wal = WriteAheadLog.open(options.wal);
  }

  /** Bytes in the write-ahead log, waiting for Kafka. */
  get walBytes(): number {
    return this.wal.pendingBytes;
  }

  /**
   * True when a request of the usual size would be taken now: straight to Kafka, or into the
   * log, judged by the log's own test of fullness (`append` refuses by the same test). Before
   * any request, when the log is not full.
   */
  get acceptsUsualRequest(): boolean {
    if (this.direct()) return true;
    return this.wal.fits(this.usualEntryBytes ?? 1);
  }

  /** True while samples go straight to Kafka. */
  get kafkaUp(): boolean {
    return this.producer !== undefined && this.wal.isEmpty;
  }

  /**
   * The partition count of the topic, to encode batches for (1 while it is not known yet: such
   * batches go to the log, which is partitioned again when it drains).
   */
  get partitionCount(): number {
    return this.partitions ?? 1;
  }

  /** Connects when Kafka and the registry answer; otherwise starts in log mode. Drains a non-empty log. */
  async start(): Promise<void> {
    if (this.wal.isEmpty) {
      try {
        await this.connect();
      } catch (error) {
        this.options.log.warn(
          { error: messageOf(error) },
          'Kafka or the schema registry is unreachable: accepted samples go to the write-ahead log',
        );
      }
    }
    if (!this.wal.isEmpty || this.producer === undefined) this.startDrain();
  }

  /**
   * Makes the samples of `batch` durable: acknowledged by Kafka, or appended to the log. Throws
   * an `HttpError` 503 when the log is full (nothing of `batch` is kept then).
   *
   * Group commit: writes that arrive while a produce request is in flight are sent together
   * in the next one, so concurrent requests share round trips and records get fuller.
   */
  write(batch: EncodedBatch): Promise<Destination> {
    if (batch.samples === 0) return Promise.resolve('kafka');
    const bytes = entryBytes(sampleBatchBytes(batch));
    this.usualEntryBytes =
      this.usualEntryBytes === undefined
        ? bytes
        : this.usualEntryBytes + (bytes - this.usualEntryBytes) / USUAL_OVER;
    if (!this.direct()) return Promise.resolve(this.log(batch));
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.sending) void this.sendQueued();
    });
  }

  private direct(): boolean {
    return (
      this.producer !== undefined &&
      this.wal.isEmpty &&
      this.schemaId !== undefined &&
      this.partitions !== undefined
    );
  }

  private async sendQueued(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        let writes = this.queue.splice(0);
        const producer = this.producer;
        if (producer && this.direct()) {
          // A batch encoded for another partition count (the topic grew meanwhile) goes to the
          // log, which partitions it again when it drains.
          const stale = writes.filter((w) => w.batch.partitions !== this.partitions);
          if (stale.length > 0) writes = writes.filter((w) => w.batch.partitions === this.partitions);
          try {
            const records = toRecords(
              writes.map((w) => w.batch),
              this.schemaId as number,
            );
            await sendAll(producer, this.options.topic, records, { attempts: 2 });
            for (const w of writes) w.resolve('kafka');
            writes = stale;
          } catch (error) {
            this.options.log.warn(
              { error: messageOf(error) },
              'Kafka is unreachable: accepted samples go to the write-ahead log until it is back',
            );
            this.dropProducer(producer);
            writes.push(...stale);
          }
        }
        // In arrival order, each write on its own: a full log refuses only the writes that do not fit.
        for (const w of writes) {
          try {
            w.resolve(this.log(w.batch));
          } catch (error) {
            w.reject(error);
          }
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private log(batch: EncodedBatch): Destination {
    this.appendToLog(batch);
    this.startDrain();
    return 'wal';
  }

  /** Resolves once the log is empty and samples go straight to Kafka again. */
  whenDrained(): Promise<void> {
    if (this.kafkaUp) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  /** Stops draining; what the log holds stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.draining;
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
    this.wal.close();
  }

  private appendToLog(batch: EncodedBatch): void {
    try {
      this.wal.append([toSampleBatch(batch)]);
    } catch (error) {
      if (error instanceof WalFullError) {
        throw new HttpError(503, `${error.message}; Kafka is unreachable, retry later`, 30);
      }
      throw error;
    }
  }

  private async connect(): Promise<void> {
    const { kafka, registry, topic } = this.options;
    this.schemaId ??= await registry.register(valueSubject(topic), batchSchema);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic, partitions: this.options.partitions }]);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      this.partitions = metadata.topics[0]?.partitions.length ?? this.options.partitions;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    await producer.connect();
    this.producer = producer;
  }

  private dropProducer(producer: Producer): void {
    if (this.producer === producer) this.producer = undefined;
    producer.disconnect().catch(() => undefined);
  }

  /** Drains the log into Kafka in the background, reconnecting with backoff; ends when the log is empty. */
  private startDrain(): void {
    if (this.draining || this.closed) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // An append may have raced the end of the drain.
      if (!this.closed && (!this.wal.isEmpty || this.producer === undefined)) this.startDrain();
    });
  }

  private async drain(): Promise<void> {
    const maxDelay = this.options.maxRetryDelayMs ?? 5_000;
    let delay = 200;
    let drained = 0;
    while (!this.closed) {
      try {
        if (!this.producer) await this.connect();
        const producer = this.producer as unknown as Producer;
        const { entries, next } = this.wal.read(DRAIN_BYTES);
        if (entries.length === 0) break;
        const samples: NormalizedSample[] = [];
        for (const entry of entries)
          samples.push(...(batchType.fromBuffer(entry) as SampleBatch).samples.map(normalized));
        const batch = encodeLogged(samples, this.partitions as number);
        await sendAll(producer, this.options.topic, toRecords([batch], this.schemaId as number), {
          attempts: 2,
        });
        this.wal.advance(next);
        drained += samples.length;
        delay = 200;
      } catch (error) {
        if (this.producer) this.dropProducer(this.producer);
        this.options.log.debug({ error: messageOf(error), retryInMs: delay }, 'Kafka still unreachable');
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, delay).unref();
        });
        delay = Math.min(maxDelay, delay * 2);
      }
    }
    if (drained > 0)
      this.options.log.info({ samples: drained }, 'Kafka is back: the write-ahead log is drained');
    if (this.kafkaUp) for (const resolve of this.drainedWaiters.splice(0)) resolve();
  }
}

/** A sample read back from the log was normalized before it was logged: only its labels need sorting back. */
function normalized(s: Sample): NormalizedSample {
  const labels = Object.entries(s.labels).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { name: s.name, labels, timestamp: s.timestamp, value: s.value, kind: s.kind };
}
