import type { Admin } from 'kafkajs';
import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { ensureTopics, partitionCount, type TopicSpec } from '../core/kafka.js';
import { tierTopic } from '../core/tiers.js';

/**
 * The repartition topic's settings, as Kafka Streams makes them: records are deleted once
 * consumed (the topology purges them), not by age, so that a topology stopped for a week loses
 * nothing. A record holds at most ~512 KiB of samples, or one input record's.
 */
const REPARTITION_TOPIC_CONFIG = {
  'cleanup.policy': 'delete',
  'retention.ms': '-1',
  'segment.bytes': String(64 * 1024 * 1024),
  'max.message.bytes': String(8 * 1024 * 1024),
};

/**
 * Creates the topology's topics that are missing: the output and side topics with
 * `topics.partitions` partitions; the repartition topic (if any) and the store changelogs with as
 * many as the input has, whoever created it (the input itself, if nobody did, with
 * `topics.partitions`). Resolves with the input's partition count.
 */
export async function prepareTopics(
  admin: Admin,
  config: Config,
  internal: { repartition?: string; stores?: (partitions: number) => TopicSpec[] },
): Promise<number> {
  const partitions = config.topics.partitions;
  const { metrics, dlq, late } = config.topics;
  const inputPartitions = (await admin.listTopics()).includes(metrics)
    ? await partitionCount(admin, metrics)
    : partitions;
  const { repartition } = internal;
  await ensureTopics(admin, [
    ...[metrics, dlq, late, ...config.tiers.map((t) => tierTopic(config, t))].map((topic) => ({
      topic,
      partitions: topic === metrics ? inputPartitions : partitions,
    })),
    ...(repartition
      ? [{ topic: repartition, partitions: inputPartitions, config: REPARTITION_TOPIC_CONFIG }]
      : []),
    ...(internal.stores?.(inputPartitions) ?? []),
  ]);
  if (repartition) {
    // Samples would land in partitions that no task expects, or miss some.
    const [actual, input] = [await partitionCount(admin, repartition), await partitionCount(admin, metrics)];
    if (actual !== input) {
      throw new ConfigError(
        `${repartition} has ${actual} partitions and the input ${metrics} has ${input}: they must be equal`,
        {
          hint: `delete ${repartition} while no topology runs; it is created again with ${input} partitions`,
        },
      );
    }
  }
  return inputPartitions;
}
