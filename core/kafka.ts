import { Kafka, logLevel, type Admin, type LogEntry, type Message, type Producer } from 'kafkajs';
import { ConfigError, isRetriable, PipelineError } from './errors.js';
import type { Logger } from './log.js';
import { withRetry } from './retry.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose logs go through our structured logger (kafkajs' info chatter at debug). */
export function createKafka(
  brokers: string[] | undefined,
  clientId: string,
  log: Logger,
  /** Retries of each request; fewer for clients that must notice an unreachable cluster quickly. */
  retries = 8,
): Kafka {
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
    retry: { retries, initialRetryTime: 200, maxRetryTime: retries > 3 ? 5000 : 1000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // kafkajs reports coordinator moves, rebalances and topics created meanwhile as errors; they are handled.
        // Our own retry helper bounds producer retries, which kafkajs warns about for idempotent producers.
        // An unreachable broker is reported by the caller once (the collector logs to disk, the topology fails).
        const handled =
          /coordinator|rebalanc|topic creation|limiting retries|Connection error|ECONNREFUSED/i.test(
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
    // Another process may have created them meanwhile; or the broker answered metadata requests
    // before it knew the topics it had just created (kafkajs gives up on that at once).
    await withRetry(
      async () => {
        const still = new Set(await admin.listTopics());
        const absent = missing.filter((s) => !still.has(s.topic)).map((s) => s.topic);
        if (absent.length > 0) {
          throw new PipelineError(`cannot create topics ${absent.join(', ')}: ${(error as Error).message}`, {
            cause: error,
            retriable: true,
          });
        }
      },
      { attempts: 6, initialDelayMs: 200 },
    );
  }
}

/**
 * The partition count of an existing topic (0 when the broker does not know it). Just after the
 * topic was created the broker may still answer that it does not host it (its metadata lags the
 * creation): that answer is asked again, for a few seconds.
 */
export async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const { topics } = await withRetry(() => admin.fetchTopicMetadata({ topics: [topic] }), {
    attempts: 6,
    initialDelayMs: 200,
    retryIf: (error) => (error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION',
  });
  return topics[0]?.partitions.length ?? 0;
}

/**
 * True when every partition of `topic` is committed up to its end, by the consumer group or, as
 * `local` knows sooner than the broker, by this process. Records deleted meanwhile (purged or
 * expired) are not waited for: a consumer behind the log start starts over from there.
 */
export async function committedToEnd(
  admin: Admin,
  groupId: string,
  topic: string,
  local?: ReadonlyMap<number, number>,
): Promise<boolean> {
  const [ends, offsets] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const group = new Map(offsets[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
  return ends.every((p) => {
    const at = Math.max(local?.get(p.partition) ?? -1, group.get(p.partition) ?? -1, Number(p.low));
    return at >= Number(p.high);
  });
}

/** What sends records: a Kafka producer, or the test driver's in-memory topics. */
export type RecordProducer = Pick<Producer, 'send'>;

/**
 * Most bytes of record values and keys sent to one partition in one produce request: the
 * partition's record batch, which brokers refuse over 1 MiB by default (`message.max.bytes`).
 */
const MAX_PARTITION_BYTES = 512 * 1024;
/**
 * Most bytes of one produce request, over all its partitions: a request is one round trip to
 * the broker, awaited before the next, so records for several partitions travel together.
 */
const MAX_SEND_BYTES = 4 * 1024 * 1024;
/**
 * Most records for one partition in one produce request: kafkajs groups a request's records by
 * partition in time quadratic in their number (it copies the partition's list for every record),
 * which made requests of thousands of small records (changelogs, window results) cost more than
 * sending them.
 */
const MAX_PARTITION_RECORDS = 1000;

/**
 * Sends `messages` to `topic`, each partition's in their order (records without an explicit
 * partition count as one partition), in requests of at most ~512 KiB and 1,000 records per
 * partition and ~4 MiB in all, each acknowledged by all in-sync replicas before the next,
 * retrying failures (`attempts` in all, default 8). A request takes records of every partition
 * that has some left: a flush's changelog records or window results, which come partition by
 * partition, need a round trip per ~4 MiB rather than per partition's 512 KiB.
 */
export async function sendAll(
  producer: RecordProducer,
  topic: string,
  messages: Message[],
  options: { attempts?: number } = {},
): Promise<void> {
  const queues = new Map<number, Array<{ message: Message; size: number }>>();
  for (const message of messages) {
    let size = sizeOf(message.value) + sizeOf(message.key) + 70;
    for (const [k, v] of Object.entries(message.headers ?? {}))
      size += k.length + (Array.isArray(v) ? v.reduce((n, x) => n + sizeOf(x), 0) : sizeOf(v ?? null)) + 8;
    const key = message.partition ?? -1;
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = []));
    queue.push({ message, size });
  }
  const next = new Map([...queues.keys()].map((key) => [key, 0]));
  for (;;) {
    const batch: Message[] = [];
    let bytes = 0;
    for (const [key, queue] of queues) {
      let at = next.get(key) as number;
      let partitionBytes = 0;
      let records = 0;
      while (at < queue.length && records < MAX_PARTITION_RECORDS) {
        const { message, size } = queue[at] as { message: Message; size: number };
        // A record over the limits on its own still goes, alone.
        if (records > 0 && partitionBytes + size > MAX_PARTITION_BYTES) break;
        if (batch.length > 0 && bytes + size > MAX_SEND_BYTES) break;
        batch.push(message);
        bytes += size;
        partitionBytes += size;
        records++;
        at++;
      }
      next.set(key, at);
    }
    if (batch.length === 0) return;
    try {
      await withRetry(() => producer.send({ topic, messages: batch, acks: -1 }), {
        retryIf: () => true,
        attempts: options.attempts ?? 8,
      });
    } catch (error) {
      throw new PipelineError(
        `cannot send ${batch.length} records (${bytes} bytes) to ${topic}: ${(error as Error).message}`,
        {
          cause: error,
          retriable: isRetriable(error),
        },
      );
    }
  }
}

function sizeOf(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
