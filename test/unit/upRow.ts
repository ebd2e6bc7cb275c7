import type { Config } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { FakeClock } from '../../streams/clock.js';
import { buildTopology } from '../../topology/graph.js';
import { createTopologyMetrics } from '../../topology/metrics.js';
import type { StreamThreadOptions } from '../../topology/streamThread.js';
import { emptyStats } from '../../topology/topology.js';
import type { RollupAcc } from '../../core/aggregate.js';
import type { ProcessedBatch, SampleRow } from '../../core/records.js';
import { columnsOf, type SampleColumns } from '../../core/sampleColumns.js';
import { seriesId, type SeriesMeta } from '../../core/series.js';
import type { SampleWindowStore } from '../../operators/sampleWindow.js';
import { ChangelogStore, WindowChangelogStore } from '../../streams/stateStore.js';
import { StreamTask } from '../../streams/task.js';
import type { Checkpoint } from '../../streams/tasks.js';
import { windowStoreCodecs } from '../../topology/storeCodecs.js';

/** A stream task of `partition` with the topology's stores (1m, 1h, series), empty, or restored at `restored`. */
export function newTask(partition: number, restored?: Checkpoint): StreamTask<SampleWindowStore, RollupAcc> {
  return new StreamTask<SampleWindowStore, RollupAcc>(
    partition,
    windowStoreCodecs.samples('window-1m'),
    new Map([['window-1h', new WindowChangelogStore('window-1h', windowStoreCodecs.rollup)]]),
    new ChangelogStore<SeriesMeta>('series', {
      encode: (v) => Buffer.from(JSON.stringify(v)),
      decode: (b) => JSON.parse(b.toString()) as SeriesMeta,
    }),
    restored,
  );
}

/** A validated sample of `up{host}` = 1 at `timestamp`, read from the record at `offset`. */
export function upRow(host: string, offset: number, timestamp: number): SampleRow {
  const labels: Array<[string, string]> = [['host', host]];
  const id = seriesId('up', labels);
  return {
    name: 'up',
    labels,
    timestamp,
    value: 1,
    kind: 'gauge',
    seriesId: id,
    seriesKey: id.toString(),
    offset,
  };
}

/** A batch of generation 1 of partition `partition` of topic `in`: its samples, records and offsets, no rejects. */
export function inBatch(
  partition: number,
  samples: SampleColumns,
  recordCount: number,
  firstOffset: number,
  lastOffset: number,
): ProcessedBatch {
  return {
    recordCount,
    generation: 1,
    topic: 'in',
    partition,
    firstOffset,
    lastOffset,
    samples,
    rejects: [],
  };
}

/** A batch of partition `partition` of topic `in` holding `rows` (one record each, by offset). */
export function rowsBatch(partition: number, rows: SampleRow[]): ProcessedBatch {
  return inBatch(partition, columnsOf(rows), rows.length, rows[0]!.offset, rows.at(-1)!.offset);
}

/**
 * What a test's StreamThread is made of: topic `in`, a silent log, a producer and result writer
 * that take everything, offsets owning partition 0, no decoding; with windows when `windows` is
 * given. `overrides` replace any of it.
 */
export function threadOptions(
  config: Config,
  clock: FakeClock,
  overrides: Partial<StreamThreadOptions> = {},
): StreamThreadOptions {
  return {
    config,
    clock,
    log: createLogger('test', 'silent'),
    metrics: createTopologyMetrics(),
    stats: emptyStats(),
    wiring: buildTopology(config, { windows: overrides.windows !== undefined, alerting: false }).wiring(),
    topic: 'in',
    producer: { send: () => Promise.resolve([]) },
    offsets: { owns: () => true, assigned: () => [0], commit: () => Promise.resolve() },
    writerType: () => Promise.reject(new Error('no decoding here')),
    rollups: { writeResults: () => Promise.resolve() },
    lateSchemaId: 0,
    ...overrides,
  };
}
