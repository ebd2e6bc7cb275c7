import { randomUUID } from 'node:crypto';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createKafka, ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { rollupBatchType, WIRE_HEADER_BYTES, type RollupBatch } from '../schemas/index.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
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
  const runtime = new ConsumerRuntime({
    kafka,
    name: 'correction feed',
    groupId: `${config.appId}-query-${randomUUID()}`,
    topics,
    fromBeginning: false,
    consumer: { sessionTimeout: 10_000 },
    log,
  });
  // Queries do not need the feed: without it, cached chunks live until their TTL.
  runtime.done.catch((error: unknown) =>
    log.warn(
      { error: messageOf(error) },
      'window corrections no longer followed; cached chunks expire by TTL only',
    ),
  );
  await runtime.start(async ({ messages }) => {
    for (const message of messages) {
      const value = message.value;
      if (!value || value.length < WIRE_HEADER_BYTES || value[0] !== 0) continue;
      let batch: RollupBatch;
      try {
        batch = rollupBatchType.fromBuffer(value.subarray(WIRE_HEADER_BYTES)) as RollupBatch;
      } catch (error) {
        log.debug({ error: messageOf(error) }, 'window results not decodable; ignored by the results cache');
        continue;
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
    }
  });
  for (const end of ends) runtime.consumer.seek(end);
  return { stop: () => runtime.close() };
}
