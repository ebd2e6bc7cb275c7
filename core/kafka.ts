import { Kafka, logLevel, type Admin, type LogEntry } from 'kafkajs';
import { ConfigError, PipelineError } from './errors.js';
import type { Logger } from './log.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose logs go through our structured logger (kafkajs' info chatter at debug). */
export function createKafka(brokers: string[] | undefined, clientId: string, log: Logger): Kafka {
  if (!brokers || brokers.length === 0) {
    throw new ConfigError('no Kafka brokers configured', {
      hint: 'set KAFKA_BROKERS=host:port, or start local services with `metrics-pipeline services up`',
    });
  }
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 5000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // kafkajs reports coordinator moves, rebalances and topics created meanwhile as errors; they are handled.
        // Our own retry helper bounds producer retries, which kafkajs warns about for idempotent producers.
        const handled = /coordinator|rebalanc|topic creation|limiting retries/i.test(
          `${message} ${String(rest.error ?? '')}`,
        );
        const lvl = handled && level <= logLevel.WARN ? 'debug' : (levels[level] ?? 'info');
        kafkaLog[lvl](rest, message);
      },
  });
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  config?: Record<string, string>;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: -1,
        configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  } catch (error) {
    // Another process may have created them meanwhile.
    const still = new Set(await admin.listTopics());
    if (missing.some((s) => !still.has(s.topic))) {
      throw new PipelineError(
        `cannot create topics ${missing.map((s) => s.topic).join(', ')}: ${(error as Error).message}`,
        {
          cause: error,
          retriable: true,
        },
      );
    }
  }
}
