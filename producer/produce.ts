import type { Kafka, Message } from 'kafkajs';
import { ensureTopics, partitionCount } from '../core/kafka.js';
import { withRetry } from '../core/retry.js';
import { batchSchema, batchType, frame } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import { syntheticRecords, type SyntheticOptions } from './synthetic.js';

export interface ProduceOptions extends Partial<SyntheticOptions> {
  kafka: Kafka;
  registry: Registry;
  topic: string;
  partitions?: number;
  /** Samples per second at most; 0 for as fast as the broker takes them. */
  rate?: number;
  /**
   * `series` (default): records keyed by series id, so a series stays in one partition.
   * `round-robin`: no key, records dealt to the partitions in turn, so every series is spread
   * over all of them (what `input.coPartitioned: false` is for).
   */
  keys?: 'series' | 'round-robin';
  /** Called about once a second with the samples sent so far. */
  onProgress?: (sent: { samples: number; records: number }) => void;
  signal?: AbortSignal;
}

export interface ProduceResult {
  samples: number;
  records: number;
  schemaId: number;
  start: number;
}

/** The subject of a topic's record values (Confluent TopicNameStrategy). */
export const valueSubject = (topic: string) => `${topic}-value`;

/**
 * Publishes the synthetic workload to `topic` as Avro batches in the Confluent wire format,
 * keyed by series (or dealt round-robin), acknowledged by all in-sync replicas, with an
 * idempotent producer.
 * Defaults: 1,000 series, 100,000 samples, 10 per record, seed 1, 10 s apart, ending now.
 */
export async function produceSynthetic(options: ProduceOptions): Promise<ProduceResult> {
  const series = options.series ?? 1000;
  const samples = options.samples ?? 100_000;
  const batch = Math.max(1, options.batch ?? 10);
  const intervalMs = options.intervalMs ?? 10_000;
  // A record holds `batch` consecutive ticks of one series: the workload spans whole records.
  const ticks = Math.ceil(samples / Math.max(1, series) / batch) * batch;
  const start = options.start ?? Math.floor((Date.now() - ticks * intervalMs) / intervalMs) * intervalMs;
  const rate = options.rate ?? 0;

  const admin = options.kafka.admin();
  await admin.connect();
  let partitions: number;
  try {
    await ensureTopics(admin, [{ topic: options.topic, partitions: options.partitions ?? 4 }]);
    partitions = await partitionCount(admin, options.topic);
  } finally {
    await admin.disconnect();
  }
  const schemaId = await options.registry.register(valueSubject(options.topic), batchSchema);
  const producer = options.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const began = Date.now();
  let sent = { samples: 0, records: 0 };
  let lastProgress = began;
  let pending: Message[] = [];
  let pendingSamples = 0;
  const send = async () => {
    if (pending.length === 0) return;
    const messages = pending;
    pending = [];
    await withRetry(() => producer.send({ topic: options.topic, messages, acks: -1 }), {
      retryIf: () => true,
    });
    sent = { samples: sent.samples + pendingSamples, records: sent.records + messages.length };
    pendingSamples = 0;
    const now = Date.now();
    if (now - lastProgress >= 1000) {
      lastProgress = now;
      options.onProgress?.(sent);
    }
    if (rate > 0) {
      // Hold back until the rate allows what has been sent.
      const due = began + (sent.samples / rate) * 1000;
      if (due > now) await new Promise((resolve) => setTimeout(resolve, due - now));
    }
  };
  // Small sends at low rates keep event time close to wall time; big ones keep throughput.
  const perSend = rate > 0 ? Math.max(1, Math.min(5000, Math.ceil(rate / 10))) : 5000;
  const roundRobin = options.keys === 'round-robin';
  let dealt = 0;
  try {
    for (const record of syntheticRecords({
      series,
      samples,
      batch,
      seed: options.seed ?? 1,
      start,
      intervalMs,
      ...(options.incident ? { incident: options.incident } : {}),
    })) {
      if (options.signal?.aborted) break;
      pending.push({
        ...(roundRobin ? { key: null, partition: dealt++ % partitions } : { key: record.key }),
        value: frame(schemaId, batchType.toBuffer({ samples: record.samples })),
      });
      pendingSamples += record.samples.length;
      if (pendingSamples >= perSend || pending.length >= 2000) await send();
    }
    await send();
  } finally {
    await producer.disconnect();
  }
  options.onProgress?.(sent);
  return { ...sent, schemaId, start };
}
