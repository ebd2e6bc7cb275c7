import type { SampleWindowStore } from '../../operators/sampleWindow.js';
import { describe, expect, it } from 'vitest';
import type { RollupAcc } from '../../core/aggregate.js';
import { loadConfig } from '../../core/config.js';
import type { SampleRow } from '../../core/records.js';
import { ChangelogStore, WindowChangelogStore, type ChangelogEntry } from '../../streams/stateStore.js';
import { windowStoreCodecs } from '../../topology/storeCodecs.js';
import type { SeriesMeta } from '../../core/series.js';
import type { Checkpoint } from '../../streams/tasks.js';
import { StreamTask } from '../../streams/task.js';
import { WindowStage, type TaskSet } from '../../topology/windowStage.js';
import { rowsBatch as batch, upRow } from './upRow.js';

/**
 * Kills and restarts of the window stage, as the topology does them: the stores' changes and
 * the checkpoint go to changelogs at a commit; a new instance restores its tasks from them and
 * is handed the input again from the committed offsets. The watermark's idle timeout (processing
 * time) plays no part: both partitions show records throughout.
 */

const config = loadConfig(undefined, {}, { topics: { metrics: 'in' } });
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const SECOND = 1000;
const MINUTE = 60_000;

/** The changelog topics of the stores of one partition, as a restore reads them. */
interface Changelogs {
  minute: ChangelogEntry[];
  hour: ChangelogEntry[];
  series: ChangelogEntry[];
  checkpoint: Checkpoint | undefined;
}

const seriesCodec = {
  encode: (v: SeriesMeta) => Buffer.from(JSON.stringify(v)),
  decode: (b: Buffer) => JSON.parse(b.toString()) as SeriesMeta,
};

/** Tasks of `partitions`, restored from `logs` (empty for a first start). */
function restoredTasks(
  partitions: number[],
  logs: Map<number, Changelogs>,
): TaskSet & { map: Map<number, StreamTask<SampleWindowStore, RollupAcc>> } {
  const map = new Map<number, StreamTask<SampleWindowStore, RollupAcc>>();
  for (const partition of partitions) {
    const log = logs.get(partition);
    const task = new StreamTask<SampleWindowStore, RollupAcc>(
      partition,
      windowStoreCodecs.samples('window-1m'),
      new Map([['window-1h', new WindowChangelogStore('window-1h', windowStoreCodecs.rollup)]]),
      new ChangelogStore<SeriesMeta>('series', seriesCodec),
      log?.checkpoint,
    );
    task.samples.restore(log?.minute ?? []);
    task.rollups.get('window-1h')?.restore(log?.hour ?? []);
    task.series.restore(log?.series ?? []);
    map.set(partition, task);
  }
  return { map, get: (p) => map.get(p), all: () => map.values() };
}

/** A commit: every store's changes and the checkpoint appended to the changelogs (`only`: a flush cut short). */
function commit(tasks: ReturnType<typeof restoredTasks>, logs: Map<number, Changelogs>, only?: 'hour'): void {
  for (const task of tasks.all()) {
    let log = logs.get(task.partition);
    if (!log) logs.set(task.partition, (log = { minute: [], hour: [], series: [], checkpoint: undefined }));
    log.hour.push(...(task.rollups.get('window-1h')?.changes() ?? []));
    if (only === 'hour') continue;
    log.series.push(...task.series.changes());
    log.minute.push(...task.samples.changes());
    log.checkpoint = structuredClone(task.checkpoint);
  }
}

/** A sample of partition `partition`'s one series (`host` = the partition), `at` ms after T0. */
const row = (partition: number, offset: number, at: number): SampleRow =>
  upRow(String(partition), offset, T0 + at);

/** The input: per partition, records of one sample each, by offset. */
type Input = Map<number, SampleRow[]>;

interface Outcome {
  /** Per partition, the offsets sent to the late topic. */
  late: Map<number, number[]>;
  /** 1m and 1h results as `partition@start (minutes from T0)` → the counts emitted, in order. */
  minute: Map<string, number[]>;
  hour: Map<string, number[]>;
}

function outcome(): Outcome {
  return { late: new Map(), minute: new Map(), hour: new Map() };
}

function take(stage: WindowStage, into: Outcome): void {
  const { results, late } = stage.drain();
  for (const l of late) into.late.set(l.partition, [...(into.late.get(l.partition) ?? []), l.offset]);
  for (const r of results.rows()) {
    const by = r.tier === '1m' ? into.minute : into.hour;
    const at = `${r.series.labels[0]?.[1]}@${(r.start - T0) / MINUTE}`;
    by.set(at, [...(by.get(at) ?? []), r.values.count]);
  }
}

/**
 * Partition 0: six samples in minute 0, then one every 20 s from minute 1 to minute 4;
 * partition 1 one every 20 s from 0 to minute 4. With `late`, partition 0 then shows a sample
 * of minute 0 (30 s in), long after its allowed lateness (window end 60 s + grace 10 s +
 * lateness 60 s = 130 s; partition 0 is at 4 min). Then both go on to `until` (one sample every 20 s).
 */
function input(until: number, late = true): Input {
  const p0: SampleRow[] = [];
  const p1: SampleRow[] = [];
  for (let i = 0; i < 6; i++) p0.push(row(0, p0.length, i * 5 * SECOND));
  for (let t = MINUTE; t <= 4 * MINUTE; t += 20 * SECOND) p0.push(row(0, p0.length, t));
  for (let t = 0; t <= 4 * MINUTE; t += 20 * SECOND) p1.push(row(1, p1.length, t));
  if (late) p0.push(row(0, p0.length, 30 * SECOND));
  for (let t = 4 * MINUTE + 20 * SECOND; t <= until; t += 20 * SECOND) {
    p0.push(row(0, p0.length, t));
    p1.push(row(1, p1.length, t));
  }
  return new Map([
    [0, p0],
    [1, p1],
  ]);
}

/** The offset of partition 0's late sample in `input`. */
function lateOffset(records: Input): number {
  return (records.get(0) ?? []).findIndex((r, i) => i >= 6 && r.timestamp === T0 + 30 * SECOND);
}

interface RunOptions {
  /** Per partition, the next offset to read (the committed offsets); a commit advances it. */
  committed: Map<number, number>;
  /** Records of each partition per flush. */
  step: number;
  /** Commits after the flush that takes partition 0 to this offset. */
  commitAt?: number;
  /** Partition 0's records from this offset on are not read: the instance is killed there. */
  killAt?: number;
  /** Killed at the end of the input, in a commit cut short: only the hour changelog was written. */
  cutAtEnd?: boolean;
}

/**
 * An instance of the stage on partitions 0 and 1: restores their tasks from `logs`, reads each
 * partition from its committed offset, `step` records of each per flush (partition 0's first),
 * and commits as told; unless killed, closes every window at the end of the input.
 */
function run(records: Input, logs: Map<number, Changelogs>, options: RunOptions): Outcome {
  const tasks = restoredTasks([0, 1], logs);
  const stage = new WindowStage(config, tasks);
  const out = outcome();
  stage.rebalanced([0, 1], [], true);
  const cursor = new Map(options.committed);
  for (;;) {
    let pushed = false;
    for (const p of [0, 1]) {
      const at = cursor.get(p) ?? 0;
      const end = p === 0 && options.killAt !== undefined ? options.killAt : Infinity;
      const rows = (records.get(p) ?? []).slice(at, Math.min(end, at + options.step));
      if (rows.length === 0) continue;
      stage.push([batch(p, rows)]);
      cursor.set(p, at + rows.length);
      pushed = true;
    }
    take(stage, out);
    if (!pushed) break;
    const reached = cursor.get(0) ?? 0;
    if (
      options.commitAt !== undefined &&
      reached >= options.commitAt &&
      reached - options.step < options.commitAt
    ) {
      commit(tasks, logs);
      for (const [p, task] of tasks.map) options.committed.set(p, (task.checkpoint?.offset ?? -1) + 1);
    }
  }
  if (options.cutAtEnd) commit(tasks, logs, 'hour');
  else if (options.killAt === undefined) {
    stage.complete();
    take(stage, out);
  }
  stage.close();
  return out;
}

/** Partition 0's samples in [from, end) (from T0) that are not late: all but its late one. */
function regular(records: Input, from: number, end: number): number {
  const late = lateOffset(records);
  return (records.get(0) ?? []).filter(
    (r, i) => r.timestamp >= T0 + from && r.timestamp < T0 + end && i !== late,
  ).length;
}

describe('window state across kills and restarts', () => {
  it('decides every sample as the first run did: a too-late sample in a replayed range opens no closed window', () => {
    const records = input(6 * MINUTE);
    const late = lateOffset(records);
    const logs = new Map<number, Changelogs>();
    const committed = new Map<number, number>();
    // First run: commits just before partition 0's late sample, is killed a few records after it.
    const first = run(records, logs, { committed, step: 1, commitAt: late, killAt: late + 3 });
    expect(first.late.get(0)).toEqual([late]);
    expect(first.minute.get('0@0')).toEqual([6]);
    expect(committed.get(0)).toBe(late);

    // Restarted: the records from the commit on come again, partition 0's first.
    const second = run(records, logs, { committed, step: 1 });
    expect(second.late.get(0)).toEqual([late]);
    // Minute 0 closed and was purged before the commit: nothing opens it again.
    expect(second.minute.get('0@0')).toBeUndefined();
    // The hour holds every regular sample.
    expect(second.hour.get('0@0')?.at(-1)).toBe(regular(records, 0, 60 * MINUTE));
  });

  it('loses no regular sample of an hour whose store is ahead of the checkpoint (a commit cut short)', () => {
    const records = input(75 * MINUTE, false);
    const logs = new Map<number, Changelogs>();
    const committed = new Map<number, number>();
    // First run: commits once early on; hour 0 closes and is purged later; killed while it
    // commits at the end, after the hour changelog and before the minute one and the checkpoint.
    const first = run(records, logs, { committed, step: 20, commitAt: 20, cutAtEnd: true });
    expect(first.hour.get('0@0')).toEqual([regular(records, 0, 60 * MINUTE)]);

    // Restarted: the minute store and checkpoint are those of the early commit, the hour store
    // the one after hour 0 was purged; the replay repeats the minute results of hour 0.
    const second = run(records, logs, { committed, step: 20 });
    for (const count of second.hour.get('0@0') ?? []) expect(count).toBe(regular(records, 0, 60 * MINUTE));
    expect(second.hour.get('0@60')?.at(-1)).toBe(regular(records, 60 * MINUTE, 120 * MINUTE));
  });

  it('whatever the commit and kill points, decides every sample as a run without kills does', () => {
    const records = input(8 * MINUTE);
    const reference = run(records, new Map(), { committed: new Map(), step: 2 });
    expect(reference.late.get(0)).toEqual([lateOffset(records)]);
    for (let commitAt = 2; commitAt <= 22; commitAt += 2) {
      for (const after of [1, 2, 5]) {
        const logs = new Map<number, Changelogs>();
        const committed = new Map<number, number>();
        const first = run(records, logs, { committed, step: 2, commitAt, killAt: commitAt + after });
        const second = run(records, logs, { committed, step: 2 });
        const at = `commit at ${commitAt}, kill ${after} later`;
        const late = new Set([...(first.late.get(0) ?? []), ...(second.late.get(0) ?? [])]);
        expect([...late], at).toEqual(reference.late.get(0));
        for (const [window, counts] of second.minute)
          expect(counts.at(-1), `${at}: minute ${window}`).toBe(reference.minute.get(window)?.at(-1));
        expect(second.hour.get('0@0')?.at(-1), at).toBe(reference.hour.get('0@0')?.at(-1));
      }
    }
  });
});
