import { join } from 'node:path';
import type { Kafka, KafkaMessage, Message } from 'kafkajs';
import { ensureTopics, partitionCount, sendAll } from '../core/kafka.js';
import { seriesId } from '../core/series.js';
import { decodeSampleBatch } from '../schemas/decodeBatch.js';
import { DecodedColumns, samplesOf } from '../schemas/decodedSamples.js';
import type { Sample } from '../schemas/index.js';
import { openClickHouse } from '../sinks/clickhouse.js';
import { columnsOf } from '../core/sampleColumns.js';
import { SAMPLE_COLUMNS, samplesBlock } from '../sinks/samplesSink.js';
import { ensureTables } from '../sinks/tables.js';
import { readToEnd } from '../streams/readToEnd.js';
import { machineBusySeconds } from './procCpu.js';
import type { BenchContext } from './throughput.js';

/**
 * The floor: what the parts every sample must go through cost on this machine by themselves,
 * with nothing of the topology around them. Each part runs alone and is timed with the CPU time
 * of this process (kafkajs, our decoder, the embedded ClickHouse's threads) and of the whole
 * machine (the broker included):
 *
 * - consume: a kafkajs consumer (the topology's fetch settings) reads a pre-loaded input topic
 *   to its end, and our batch decoder decodes every record; no validation, no windows;
 * - ClickHouse insert: the raw rows of the workload, as the raw sink writes them (Native blocks
 *   of `sink.maxRows` with a deduplication token), into a fresh `samples` table of our schema;
 * - window results: the records of every tier topic the batched run published (1m, 1h), produced
 *   again as the topology produces them (`sendAll`: idempotent producer, acks all, requests of
 *   ~512 KiB and ≤ 1,000 records per partition, ~4 MiB in all);
 * - changelogs: the records of the batched run's changelog topics (its window stores' and series
 *   metadata), produced again the same way. With the window results, these are everything the
 *   topology writes to Kafka.
 *
 * Each part is timed in steady state: clients connected, the consumer's group joined, tables
 * created before the clock starts; the consumer's disconnect after it stops. Every part is also
 * reported per sample of the workload (µs of CPU per sample), so that parts handling records,
 * rows or results compare directly.
 *
 * A run cannot be faster than the sum of its parts' CPU spread over every core; the ceiling
 * below assumes exactly that (perfect parallelism, nothing else: no validation, no windows, no
 * changelogs, no commits).
 */
export interface FloorPart {
  /** Records, rows or samples handled. */
  items: number;
  seconds: number;
  /** CPU seconds of this process (all threads). */
  cpuSeconds: number;
  /** CPU seconds of the whole machine (the broker included); null where /proc/stat is missing. */
  machineCpuSeconds: number | null;
  perSec: number;
}

export interface FloorResult {
  /** Consume + decode of the batched input topic (100 samples per record). */
  consumeBatched: FloorPart & { samples: number };
  /** Consume + decode of the unbatched input topic (1 sample per record). */
  consumeUnbatched: FloorPart & { samples: number };
  clickhouseInsert: FloorPart;
  /** The batched run's tier topics (1m, 1h) produced again. */
  windowResults: FloorPart;
  /** The batched run's changelog topics produced again. */
  changelogs: FloorPart;
  /**
   * Samples/s no run can exceed on this machine: cores × 10⁶ / (the machine's CPU µs per
   * sample of consume + insert + window results). The throughput targets are next to it.
   */
  ceilingSamplesPerSec: { batched: number | null; unbatched: number | null };
  /** The machine's CPU µs per sample of those parts together. */
  machineCpuMicrosPerSample: { batched: number | null; unbatched: number | null };
  /** Each part's CPU µs per sample of the workload, for the batched and the unbatched input. */
  perSample: { batched: PerSample; unbatched: PerSample };
}

/** CPU µs per sample of this process and of the machine (null where /proc/stat is missing). */
export interface Micros {
  process: number;
  machine: number | null;
}

export interface PerSample {
  consume: Micros;
  insert: Micros;
  windowResults: Micros;
  changelogs: Micros;
  total: Micros;
}

export interface FloorInputs {
  batchedTopic: string;
  unbatchedTopic: string;
  /** The batched run's tier topics: their records are produced again. */
  tierTopics: ReadonlyArray<string>;
  /** The batched run's topics start so (its appId and a dash); those ending `-changelog` are produced again. */
  changelogPrefix: string;
  cpus: number;
  dir: string;
}

export async function floorRun(ctx: BenchContext, inputs: FloorInputs): Promise<FloorResult> {
  const decoded: DecodedColumns[] = [];
  ctx.say(`floor: consuming ${inputs.batchedTopic} alone`);
  const consumeBatched = await consumeAll(ctx.kafka, inputs.batchedTopic, (columns) => decoded.push(columns));
  // The rows for the insert part, as objects once the clock has stopped.
  const samples = decoded.flatMap((columns) => samplesOf({ columns, from: 0, to: columns.length }));
  decoded.length = 0;
  ctx.say(`floor: consuming ${inputs.unbatchedTopic} alone`);
  const consumeUnbatched = await consumeAll(ctx.kafka, inputs.unbatchedTopic, () => undefined);
  ctx.say(`floor: inserting ${samples.length} raw rows into ClickHouse alone`);
  const clickhouseInsert = await insertRows(ctx, samples, join(inputs.dir, 'clickhouse'));
  samples.length = 0;
  ctx.say(`floor: producing the window results of ${inputs.tierTopics.join(', ')} again, alone`);
  const windowResults = await produceAllAgain(ctx.kafka, inputs.tierTopics);
  const changelogTopics = await topicsLike(ctx.kafka, inputs.changelogPrefix, '-changelog');
  ctx.say(`floor: producing the changelogs ${changelogTopics.join(', ')} again, alone`);
  const changelogs = await produceAllAgain(ctx.kafka, changelogTopics);
  const outputs = [clickhouseInsert, windowResults, changelogs];

  const micros = (consume: FloorPart & { samples: number }) => {
    const parts = [consume, ...outputs].map((p) => p.machineCpuSeconds);
    if (parts.some((p) => p === null) || consume.samples === 0) return null;
    const total = (parts as number[]).reduce((a, b) => a + b, 0);
    return (total * 1e6) / consume.samples;
  };
  const batched = micros(consumeBatched);
  const unbatched = micros(consumeUnbatched);
  const perSample = (consume: FloorPart & { samples: number }): PerSample => {
    const per = (parts: FloorPart[]): Micros => {
      const machine = parts.map((p) => p.machineCpuSeconds);
      const sum = (values: number[]) =>
        (values.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, consume.samples);
      return {
        process: round(sum(parts.map((p) => p.cpuSeconds))) as number,
        machine: machine.some((m) => m === null) ? null : round(sum(machine as number[])),
      };
    };
    return {
      consume: per([consume]),
      insert: per([clickhouseInsert]),
      windowResults: per([windowResults]),
      changelogs: per([changelogs]),
      total: per([consume, ...outputs]),
    };
  };
  const ceiling = (us: number | null) => (us === null ? null : Math.round((inputs.cpus * 1e6) / us));
  return {
    consumeBatched,
    consumeUnbatched,
    clickhouseInsert,
    windowResults,
    changelogs,
    ceilingSamplesPerSec: { batched: ceiling(batched), unbatched: ceiling(unbatched) },
    machineCpuMicrosPerSample: { batched: round(batched), unbatched: round(unbatched) },
    perSample: { batched: perSample(consumeBatched), unbatched: perSample(consumeUnbatched) },
  };
}

/** Where a part's clock started: wall, CPU of this process, busy time of the machine. */
interface Mark {
  wall: number;
  cpu: NodeJS.CpuUsage;
  machine: number | undefined;
}

const mark = (): Mark => ({
  wall: performance.now(),
  cpu: process.cpuUsage(),
  machine: machineBusySeconds(),
});

/** The part between two marks, `items` handled. */
function between(start: Mark, end: Mark, items: number): FloorPart {
  const seconds = (end.wall - start.wall) / 1000;
  const cpu = (end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system) / 1e6;
  return {
    items,
    seconds: round(seconds) as number,
    // Milliseconds: a part of a small run takes a few hundredths of a second.
    cpuSeconds: Math.round(cpu * 1000) / 1000,
    machineCpuSeconds:
      start.machine === undefined || end.machine === undefined
        ? null
        : Math.round((end.machine - start.machine) * 1000) / 1000,
    perSec: Math.round(items / seconds),
  };
}

/** Times `work` with the CPU of this process and of the machine. */
async function timed(items: () => number, work: () => Promise<void>): Promise<FloorPart> {
  const start = mark();
  await work();
  return between(start, mark(), items());
}

/**
 * Reads `topic` to its end with the topology's fetch settings, timed in steady state: from the
 * group join to the last record read, without the consumer's connect, join and disconnect
 * (seconds of waiting on the group coordinator that a long-running topology pays once).
 */
async function readAll(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage & { value: Buffer }) => void,
): Promise<FloorPart> {
  let records = 0;
  let joined: Mark | undefined;
  let read: Mark | undefined;
  await readToEnd(kafka, {
    groupId: `${topic}-floor-${Date.now().toString(36)}`,
    topics: [topic],
    consumer: { maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 32 * 1024 * 1024, maxWaitTimeInMs: 500 },
    onMessage: (_topic, _partition, message) => {
      records++;
      if (message.value) onMessage(message as KafkaMessage & { value: Buffer });
    },
    steady: {
      joined: () => {
        joined ??= mark();
      },
      read: () => {
        read = mark();
      },
    },
  });
  if (joined === undefined || read === undefined) throw new Error(`floor: ${topic} was not read to its end`);
  return between(joined, read, records);
}

async function consumeAll(
  kafka: Kafka,
  topic: string,
  keep: (columns: DecodedColumns) => void,
): Promise<FloorPart & { samples: number }> {
  // As the topology decodes: into columns shared by the records (it shares them per fetched
  // batch), not a fresh set per record, which cost more than the decoding itself.
  let columns = new DecodedColumns(64 * 1024);
  let samples = 0;
  const part = await readAll(kafka, topic, (message) => {
    // Confluent wire format: magic byte and schema id first.
    decodeSampleBatch(message.value, 5, columns);
    if (columns.length < 64 * 1024) return;
    samples += columns.length;
    keep(columns);
    columns = new DecodedColumns(64 * 1024);
  });
  samples += columns.length;
  keep(columns);
  return { ...part, samples };
}

/** The raw rows of `samples` as the raw sink writes them, inserted in blocks of `sink.maxRows`. */
async function insertRows(ctx: BenchContext, samples: Sample[], path: string): Promise<FloorPart> {
  const ch = await openClickHouse({ ...ctx.base.clickhouse, path, database: 'floor' });
  try {
    await ensureTables(ch, ctx.base);
    // Blocks built before the clock starts: only the engine's part is timed.
    const ids = new Map<string, bigint>();
    const blocks: Buffer[] = [];
    const size = ctx.base.sink.maxRows;
    for (let i = 0; i < samples.length; i += size) {
      const rows = samples.slice(i, i + size).map((s) => {
        const labels = Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const key = `${s.name}${JSON.stringify(labels)}`;
        let id = ids.get(key);
        if (id === undefined) ids.set(key, (id = seriesId(s.name, labels)));
        return { name: s.name, seriesId: id, timestamp: s.timestamp, value: s.value, kind: s.kind };
      });
      blocks.push(samplesBlock(columnsOf(rows)));
    }
    return await timed(
      () => samples.length,
      async () => {
        for (const [i, block] of blocks.entries())
          await ch.insertNative({
            table: 'floor.samples',
            columns: SAMPLE_COLUMNS,
            block,
            settings: { insert_deduplication_token: `floor:${i}`, insert_deduplicate: 1 },
          });
      },
    );
  } finally {
    await ch.close();
  }
}

/** The topics named `<prefix>…<suffix>`, sorted. */
async function topicsLike(kafka: Kafka, prefix: string, suffix: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix) && t.endsWith(suffix)).sort();
  } finally {
    await admin.disconnect();
  }
}

/** `produceAgain` of each topic in turn (to `<topic>-floor`): one part, the sum of theirs. */
async function produceAllAgain(kafka: Kafka, topics: ReadonlyArray<string>): Promise<FloorPart> {
  const parts: FloorPart[] = [];
  for (const topic of topics) parts.push(await produceAgain(kafka, topic, `${topic}-floor`));
  const sum = (f: (p: FloorPart) => number | null) =>
    parts.some((p) => f(p) === null) ? null : parts.reduce((a, p) => a + (f(p) as number), 0);
  const seconds = sum((p) => p.seconds) as number;
  const items = sum((p) => p.items) as number;
  return {
    items,
    seconds: round(seconds) as number,
    cpuSeconds: Math.round((sum((p) => p.cpuSeconds) as number) * 1000) / 1000,
    machineCpuSeconds: sum((p) => p.machineCpuSeconds),
    perSec: seconds > 0 ? Math.round(items / seconds) : 0,
  };
}

/** Produces the records of `from` again to `to`, as the topology produces window results. */
async function produceAgain(kafka: Kafka, from: string, to: string): Promise<FloorPart> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic: to, partitions: await partitionCount(admin, from) }]);
  } finally {
    await admin.disconnect();
  }
  // Each record to the partition it was read from, in the order read.
  const messages: Message[] = [];
  await readToEnd(kafka, {
    groupId: `${from}-floor-${Date.now().toString(36)}`,
    topics: [from],
    onMessage: (_topic, partition, message) =>
      messages.push({ key: message.key, value: message.value, partition }),
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    // The topology's own sending (`sendAll`), acks all.
    return await timed(
      () => messages.length,
      () => sendAll(producer, to, messages),
    );
  } finally {
    await producer.disconnect();
  }
}

const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
