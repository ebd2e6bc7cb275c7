import { sendAll, type RecordProducer } from '../core/kafka.js';
import type { ProcessedBatch } from '../core/records.js';
import { encodeOrigins, repartitionRecords, REPARTITION_HEADERS } from '../core/repartition.js';
import { batchType, frame } from '../schemas/index.js';

/** The internal topic of an application's repartition step. */
export function repartitionTopic(appId: string): string {
  return `${appId}-repartition`;
}

/**
 * The repartition sink (the internal topic of Kafka Streams' `groupBy`): validated samples,
 * re-encoded as Avro batches in the Confluent wire format (schema id `schemaId`), each sent to
 * the partition of `topic` that its series id maps to, with the input partition and offsets
 * they came from in headers. Resolves with the samples sent once the broker has them all (acks
 * = all); records bound for one partition from one input partition keep their order.
 */
export async function sendRepartitioned(
  producer: RecordProducer,
  target: { topic: string; partitions: number; schemaId: number },
  batches: ReadonlyArray<ProcessedBatch>,
): Promise<number> {
  const records = repartitionRecords(batches, target.partitions);
  if (records.length === 0) return 0;
  let samples = 0;
  const messages = records.map((r) => {
    samples += r.rows.length;
    return {
      partition: r.partition,
      key: null,
      value: frame(
        target.schemaId,
        batchType.toBuffer({
          samples: r.rows.map((row) => ({
            name: row.name,
            labels: Object.fromEntries(row.labels),
            timestamp: row.timestamp,
            value: row.value,
            kind: row.kind,
          })),
        }),
      ),
      headers: {
        [REPARTITION_HEADERS.partition]: String(r.source),
        [REPARTITION_HEADERS.offsets]: encodeOrigins(r.rows),
      },
    };
  });
  await sendAll(producer, target.topic, messages);
  return samples;
}
