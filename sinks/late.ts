import { sendAll, type RecordProducer } from '../core/kafka.js';
import { batchType, frame } from '../schemas/index.js';
import type { LateSample } from '../topology/windowStage.js';

/** Header with the reason a sample missed its window, on records of the late topic. */
export const LATE_REASON_HEADER = 'late.reason';

/**
 * Publishes samples later than their window's allowed lateness to the late topic (Flink's side
 * output for late data): one Avro batch of one sample each, keyed by series, with the reason
 * and the source position in headers. They are stored raw all the same; only the windows miss them.
 */
export async function sendLate(
  producer: RecordProducer,
  topic: string,
  schemaId: number,
  late: LateSample[],
): Promise<void> {
  if (late.length === 0) return;
  const messages = late.map(({ row, reason, partition, offset, tier }) => ({
    key: row.seriesId.toString(),
    value: frame(
      schemaId,
      batchType.toBuffer({
        samples: [
          {
            name: row.name,
            labels: Object.fromEntries(row.labels),
            timestamp: row.timestamp,
            value: row.value,
            kind: row.kind,
          },
        ],
      }),
    ),
    headers: {
      [LATE_REASON_HEADER]: reason,
      'late.tier': tier,
      'late.source.partition': String(partition),
      'late.source.offset': String(offset),
    },
  }));
  await sendAll(producer, topic, messages);
}
