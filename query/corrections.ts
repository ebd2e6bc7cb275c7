import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createKafka, ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { rollupBatchType, WIRE_HEADER_BYTES, type RollupBatch } from '../schemas/index.js';
import { tierTopic } from '../core/tiers.js';

/** A corrected window result: the tier, the series' metric, and the window [startMs, endMs). */
export interface Correction {
  tier: string;
  metric: string;
  startMs: number;
  endMs: number;
}

export interface CorrectionFeed {
  stop(): Promise<void>;
}

/**
 * How the query service learns that a window was corrected: the topology publishes every window
 * result to the tier topics (metrics-1m, metrics-1h), a correction (late samples within the
 * allowed lateness) as the same window with a higher `revision`. This consumer reads the tier
 * topics from their end, in a group of its own (every query service instance sees every
 * result; nothing is committed), and calls `onCorrection` for each result of revision > 1, so
 * that cached chunks over that window are dropped. The same feed serves a query service in the
 * topology's process and one on its own.
 */
export async function startCorrectionFeed(options: {
  config: Config;
  log: Logger;
  onCorrection: (c: Correction) => void;
}): Promise<CorrectionFeed> {
  const { config, log } = options;
  const kafka = createKafka(config.kafka.brokers, `${config.kafka.clientId}-query`, log);
  const topics = config.tiers.map((t) => tierTopic(config, t));
  const admin = kafka.admin();
  await admin.connect();
  // The ends of the topics now: every result published after this function returns is seen.
  const ends: Array<{ topic: string; partition: number; offset: string }> = [];
  try {
    await ensureTopics(
      admin,
      topics.map((topic) => ({ topic, partitions: config.topics.partitions })),
    );
    for (const topic of topics)
      for (const p of await admin.fetchTopicOffsets(topic))
        ends.push({ topic, partition: p.partition, offset: p.high });
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({
    groupId: `${config.appId}-query-${randomUUID()}`,
    sessionTimeout: 10_000,
  });
  await consumer.connect();
  await disconnectOnFailure(consumer, async () => {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const value = message.value;
        if (!value || value.length < WIRE_HEADER_BYTES || value[0] !== 0) return;
        let batch: RollupBatch;
        try {
          batch = rollupBatchType.fromBuffer(value.subarray(WIRE_HEADER_BYTES)) as RollupBatch;
        } catch (error) {
          log.debug(
            { error: messageOf(error) },
            'window results not decodable; ignored by the results cache',
          );
          return;
        }
        for (const rollup of batch.results) {
          if (rollup.revision > 1)
            options.onCorrection({
              tier: rollup.tier,
              metric: rollup.name,
              startMs: Number(rollup.windowStart),
              endMs: Number(rollup.windowEnd),
            });
        }
      },
    });
    for (const end of ends) consumer.seek(end);
  });
  return {
    stop: async () => {
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

/**
 * Runs `start` on a connected consumer; when it fails the consumer is disconnected before the
 * error is rethrown, else its sockets and group membership outlive the failed start.
 */
export async function disconnectOnFailure(
  consumer: Pick<Consumer, 'disconnect'>,
  start: () => Promise<void>,
): Promise<void> {
  try {
    await start();
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
}
