import type { SampleWindowStore } from '../../operators/sampleWindow.js';
import { describe, expect, it } from 'vitest';
import type { RollupAcc } from '../../core/aggregate.js';
import { loadConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import type { ProcessedBatch, SampleOrigin, SampleRow } from '../../core/records.js';
import { seriesId } from '../../core/series.js';
import type { StreamTask } from '../../streams/task.js';
import { WindowStage, type TaskSet } from '../../topology/windowStage.js';
import { columnsOf } from '../../core/sampleColumns.js';
import { newTask } from './upRow.js';

const config = loadConfig(undefined, {}, { topics: { metrics: 'in' }, windows: { outOfOrdernessMs: 0 } });
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const labels: Array<[string, string]> = [['host', 'a']];
const SERIES = seriesId('up', labels);

function tasks(
  ...partitions: number[]
): TaskSet & { map: Map<number, StreamTask<SampleWindowStore, RollupAcc>> } {
  const map = new Map<number, StreamTask<SampleWindowStore, RollupAcc>>();
  for (const partition of partitions) map.set(partition, newTask(partition));
  return { map, get: (p) => map.get(p), all: () => map.values() };
}

/** A sample of the one series, at `T0 + minutes`, read at `offset` and first seen at `origin`. */
function row(offset: number, minutes: number, origin?: SampleOrigin): SampleRow {
  return {
    name: 'up',
    labels,
    timestamp: T0 + minutes * MINUTE,
    value: 1,
    kind: 'gauge',
    seriesId: SERIES,
    seriesKey: SERIES.toString(),
    offset,
    ...(origin ? { origin } : {}),
  };
}

function batch(topic: string, rows: SampleRow[]): ProcessedBatch {
  return {
    recordCount: rows.length,
    generation: 1,
    topic,
    partition: 0,
    firstOffset: rows[0]!.offset,
    lastOffset: rows[rows.length - 1]!.offset,
    samples: columnsOf(rows),
    rejects: [],
  };
}

/**
 * Runs the batches through a stage that was just assigned partition 0, and closes every window:
 * the 1m counts by window start (in minutes from T0), and the late samples.
 */
function run(stage: WindowStage, batches: ProcessedBatch[]): { counts: Map<number, number>; late: number } {
  stage.rebalanced([0], [], false);
  for (const b of batches) stage.push([b]); // one flush each
  stage.complete();
  const { results, late } = stage.drain();
  stage.close();
  const counts = new Map<number, number>();
  for (const r of results.rows().filter((x) => x.tier === '1m'))
    counts.set((r.start - T0) / MINUTE, r.values.count);
  return { counts, late: late.length };
}

describe('WindowStage series store', () => {
  it("records a series in the series store of each task that processes it, the same batch's objects or not", () => {
    const input = batch('in', [row(0, 0), row(1, 1)]);
    // The partition moves to a new task (a rebalance): its store must get the series again, though
    // the batch's series objects are the ones the first task saw.
    for (const round of [0, 1]) {
      const set = tasks(0);
      const stage = new WindowStage(config, set);
      stage.rebalanced([0], [], false);
      stage.push([input]);
      expect({ round, meta: set.map.get(0)?.series.get(SERIES.toString()) }).toEqual({
        round,
        meta: { name: 'up', labels, kind: 'gauge' },
      });
      expect(
        set.map
          .get(0)
          ?.commit()
          .series.map((e) => e.key),
      ).toEqual([SERIES.toString()]);
      // What the batch's series objects remember of the task and table is a number: they outlive
      // a revoked task, which must not stay reachable through them.
      const [series] = input.samples.series;
      expect([typeof series?.recordedBy, typeof series?.numberedBy]).toEqual(['number', 'number']);
      stage.close();
    }
  });
});

describe('WindowStage series numbers', () => {
  /** A sample of series `host`, at `T0 + minutes`, read at `offset`. */
  const sample = (host: string, offset: number, minutes: number, value: number): SampleRow => {
    const hostLabels: Array<[string, string]> = [['host', host]];
    const id = seriesId('up', hostLabels);
    const at = T0 + minutes * MINUTE;
    return {
      name: 'up',
      labels: hostLabels,
      timestamp: at,
      value,
      kind: 'gauge',
      seriesId: id,
      seriesKey: String(id),
      offset,
    };
  };

  it("keeps each series in its own windows when another table numbered the batch's series first", () => {
    const input = batch('in', [
      sample('a', 10, 0, 1),
      sample('b', 11, 0, 100),
      sample('a', 12, 1, 2),
      sample('b', 13, 1, 200),
    ]);
    const sums = (before: ProcessedBatch[]) => {
      const stage = new WindowStage(config, tasks(0));
      stage.rebalanced([0], [], false);
      for (const b of [...before, input]) stage.push([b]);
      stage.complete();
      const out = stage
        .drain()
        .results.rows()
        .filter((r) => r.tier === '1m')
        .map((r) => `${r.series.labels[0]?.[1]}@${(r.start - T0) / MINUTE}:${r.values.sum}`);
      stage.close();
      return out.sort();
    };
    const expected = ['a@0:1', 'a@1:2', 'b@0:100', 'b@1:200'];
    expect(sums([])).toEqual(expected);
    // A new table that numbers b first (b: 0, a: 1), then the same batch objects (a was 0, b 1).
    expect(sums([batch('in', [sample('b', 0, 0, 1000)])])).toEqual(['a@0:1', 'a@1:2', 'b@0:1100', 'b@1:200']);
  });
});

describe('WindowStage behind a repartition topic', () => {
  it('skips samples that a replay upstream repartitioned again, however the records are cut', () => {
    const origin = (offset: number) => ({ partition: 1, offset });
    const stage = new WindowStage(config, tasks(0), 2);
    // Input records 10, 11, 12 of partition 1, two samples each; then, after a crash upstream,
    // records 11 to 13 again, cut into other repartition records.
    const first = [
      row(0, 0, origin(10)),
      row(0, 0.1, origin(10)),
      row(1, 0.2, origin(11)),
      row(1, 0.3, origin(11)),
    ];
    const second = [row(2, 0.4, origin(12)), row(2, 0.5, origin(12))];
    const replay = [
      row(3, 0.2, origin(11)),
      row(3, 0.3, origin(11)),
      row(3, 0.4, origin(12)),
      row(3, 0.5, origin(12)),
      row(3, 1.1, origin(13)),
      row(3, 1.2, origin(13)),
    ];
    const { counts, late } = run(stage, [batch('r', first), batch('r', second), batch('r', replay)]);
    expect(late).toBe(0);
    expect(counts).toEqual(
      new Map([
        [0, 6],
        [1, 2],
      ]),
    );
  });

  it('keeps the position per input partition in the checkpoint', () => {
    const t = tasks(0);
    const stage = new WindowStage(config, t, 2);
    stage.push([
      batch('r', [row(0, 0, { partition: 0, offset: 4 }), row(1, 2, { partition: 1, offset: 9 })]),
    ]);
    expect(t.map.get(0)?.checkpoint).toEqual({
      topic: 'r',
      offset: 1,
      maxTimestamp: T0 + 2 * MINUTE,
      upstream: { 0: { offset: 4, maxTimestamp: T0 }, 1: { offset: 9, maxTimestamp: T0 + 2 * MINUTE } },
      // Lateness counts from where the slowest input partition is.
      streamTime: T0,
    });
    stage.close();
  });

  it('follows the event time of each input partition: one far ahead of another makes nothing late', () => {
    // Input partition 0 was repartitioned up to minute 30 before partition 1 got past minute 0.
    const ahead = Array.from({ length: 31 }, (_, m) => row(m, m, { partition: 0, offset: m }));
    const behind = Array.from({ length: 31 }, (_, m) => row(31 + m, m, { partition: 1, offset: m }));
    const repartitioned = run(new WindowStage(config, tasks(0), 2), [batch('r', ahead), batch('r', behind)]);
    expect(repartitioned.late).toBe(0);
    expect([...repartitioned.counts.values()]).toEqual(new Array(31).fill(2));

    // Read as one partition's stream, the same records would be 30 minutes out of order.
    const strip = (rows: SampleRow[]) => rows.map(({ origin: _, ...r }) => r);
    const single = run(new WindowStage(config, tasks(0)), [
      batch('in', strip(ahead)),
      batch('in', strip(behind)),
    ]);
    expect(single.late).toBeGreaterThan(0);
  });

  it('refuses state built from another topic (input.coPartitioned changed under the same appId)', () => {
    const t = tasks(0);
    t.map.get(0)!.restored = { topic: 'in', offset: 5, maxTimestamp: T0 };
    const stage = new WindowStage(config, t, 2);
    expect(() => stage.push([batch('r', [row(6, 0, { partition: 0, offset: 1 })])])).toThrow(ConfigError);
    stage.close();
  });
});
