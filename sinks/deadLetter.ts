import type { IHeaders, Message } from 'kafkajs';
import type { Rejected } from '../core/records.js';
import { sendAll, type RecordProducer } from '../core/kafka.js';

/** Headers a dead-lettered record carries besides its original ones. */
export const DLQ_HEADERS = {
  reason: 'dlq.reason',
  stage: 'dlq.stage',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
} as const;

/**
 * Sends rejected records to the dead-letter topic with their original key, value and headers,
 * plus the reason and where they came from. Resolves once the broker has them (acks = all).
 */
export async function sendToDeadLetter(
  producer: RecordProducer,
  topic: string,
  rejects: Rejected[],
): Promise<void> {
  if (rejects.length === 0) return;
  await sendAll(producer, topic, deadLetterMessages(rejects));
}

/** The dead-letter records of `rejects`: original key, value and headers, plus reason and origin. */
export function deadLetterMessages(rejects: ReadonlyArray<Rejected>): Message[] {
  return rejects.map((r) => {
    const headers: IHeaders = { ...(r.headers ?? {}) };
    headers[DLQ_HEADERS.reason] = r.reason;
    headers[DLQ_HEADERS.stage] = r.stage;
    headers[DLQ_HEADERS.topic] = r.topic;
    headers[DLQ_HEADERS.partition] = String(r.partition);
    headers[DLQ_HEADERS.offset] = String(r.offset);
    return { key: r.key, value: r.value, headers };
  });
}
