import type { SampleWindowStore } from '../operators/sampleWindow.js';
/**
 * The topology's own hot path in one process, without Kafka or ClickHouse: synthetic records
 * (the bench's workload) decoded, validated and run through the window tiers (1m, 1h) on
 * virtual time, every window closed at the end and its results drained, then the last commit's
 * changelog records collected. Prints the CPU time of each part, so that changes to the path
 * compare without the noise of a shared machine.
 *
 *   npx tsx bench/hotPath.ts [samples=500000] [series=10000] [perRecord=100] [rounds=3]
 */
import { firstValueFrom, from, toArray } from 'rxjs';
import type { RollupAcc } from '../core/aggregate.js';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { partitionBatchOf, type PartitionBatch, type ProcessedBatch } from '../core/records.js';
import { defaultLimits } from '../core/validate.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { validateSamples } from '../operators/validateSamples.js';
import { syntheticRecords } from '../producer/synthetic.js';
import { batchType, frame } from '../schemas/index.js';
import { FakeClock } from '../streams/clock.js';
import { Tasks } from '../streams/tasks.js';
import { windowStoreCodecs } from '../topology/storeCodecs.js';
import { WindowStage } from '../topology/windowStage.js';

const [samples = 500_000, series = 10_000, perRecord = 100, rounds = 3] = process.argv
  .slice(2)
  .map((a) => Number(a));
const RECORDS_PER_FETCH = 1000;
const INTERVAL_MS = 10_000;
// As the bench's runs: event time runs out of order within a partition by a record's span.
const config = loadConfig(
  undefined,
  {},
  { topics: { metrics: 'in' }, windows: { outOfOrdernessMs: Math.max(5000, perRecord * INTERVAL_MS) } },
);

/** The workload as fetched batches of one partition, ending now. */
function fetches(now: number): PartitionBatch[] {
  // Every series gets `perRecord` ticks per round of records, until the samples run out.
  const ticks = Math.ceil(samples / (series * perRecord)) * perRecord;
  const start = now - ticks * INTERVAL_MS;
  const values = [
    ...syntheticRecords({ series, samples, batch: perRecord, seed: 1, start, intervalMs: INTERVAL_MS }),
  ].map((r) => frame(1, batchType.toBuffer({ samples: r.samples })));
  const out: PartitionBatch[] = [];
  for (let at = 0; at < values.length; at += RECORDS_PER_FETCH) {
    const records = values.slice(at, at + RECORDS_PER_FETCH).map((value, i) => ({
      offset: at + i,
      key: null,
      value,
      headers: undefined,
    }));
    out.push(
      partitionBatchOf(
        { topic: 'in', partition: 0, lastOffset: at + records.length - 1, generation: 1 },
        records,
      ),
    );
  }
  return out;
}

const cpu = (since: NodeJS.CpuUsage) => {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1e6;
};

async function round(
  input: PartitionBatch[],
  now: number,
): Promise<{ decode: number; windows: number; atEnd: number; commit: number; changelog: string }> {
  let mark = process.cpuUsage();
  const processed: ProcessedBatch[] = await firstValueFrom(
    from(input).pipe(
      decodeRecords(async () => batchType),
      validateSamples(defaultLimits, () => now),
      toArray(),
    ),
  );
  const decode = cpu(mark);
  const clock = new FakeClock(now);
  const tasks = new Tasks<SampleWindowStore, RollupAcc>(
    () => Promise.resolve(new Map()),
    config,
    windowStoreCodecs,
    createLogger('hot-path', 'silent'),
  );
  tasks.assign([0]);
  await tasks.ready(0);
  const stage = new WindowStage(config, tasks, undefined, clock);
  stage.rebalanced([0], [], true);
  mark = process.cpuUsage();
  let results = 0;
  let late = 0;
  const drain = () => {
    const out = stage.drain();
    results += out.results.length;
    late += out.late.length;
  };
  for (const batch of processed) {
    stage.push([batch]);
    drain();
  }
  const closeMark = process.cpuUsage();
  stage.complete();
  drain();
  const atEnd = cpu(closeMark);
  const windows = cpu(mark);
  // The last commit's changes, collected (encoded) as the topology collects them after that close.
  const commitMark = process.cpuUsage();
  const changes = tasks.collect();
  const commit = cpu(commitMark);
  const sized = (parts: Array<{ entries: Array<{ value: Buffer | null }> }>) => {
    let records = 0;
    let bytes = 0;
    for (const { entries } of parts) {
      records += entries.length;
      for (const e of entries) bytes += e.value?.length ?? 0;
    }
    return `${records} records, ${(bytes / 1e6).toFixed(1)} MB`;
  };
  const changelog = [
    `${config.tiers[0]?.name}: ${sized(changes.samples)}`,
    ...[...changes.rollups].map(([store, parts]) => `${store}: ${sized(parts)}`),
    `series: ${sized(changes.series)}`,
  ].join('; ');
  if (results === 0 || late > 0) throw new Error(`${results} window results, ${late} late samples`);
  stage.close();
  return { decode, windows, atEnd, commit, changelog };
}

const now = Date.now();
const input = fetches(now);
for (let r = 0; r < rounds; r++) {
  const { decode, windows, atEnd, commit, changelog } = await round(input, now);
  console.log(
    `round ${r + 1}: decode + validate ${decode.toFixed(2)} s, windows ${windows.toFixed(2)} s, of which closing those open at the end ${atEnd.toFixed(2)} s (${samples} samples, ${perRecord} per record); the last commit's changes collected ${commit.toFixed(2)} s (${changelog})`,
  );
}
