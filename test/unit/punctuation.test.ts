import type { SampleWindowStore } from '../../operators/sampleWindow.js';
import { describe, expect, it } from 'vitest';
import type { RollupAcc } from '../../core/aggregate.js';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { SampleRow } from '../../core/records.js';
import { FakeClock } from '../../streams/clock.js';
import { Tasks } from '../../streams/tasks.js';
import { windowStoreCodecs } from '../../topology/storeCodecs.js';
import { WindowStage } from '../../topology/windowStage.js';
import { rowsBatch as batch, upRow } from './upRow.js';

/**
 * The window stage's punctuation on virtual time: stream time closes the windows the watermark
 * passed, the wall clock lets idleness move the watermark, and only the thread's turns (records,
 * punctuations) reach the tasks' stores; between turns nothing does.
 */

// The 1m tier: size 60 s, grace 10 s; the watermark trails the largest event time by 5 s.
const config = loadConfig(undefined, {}, { topics: { metrics: 'in' } });
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const SECOND = 1000;
const MINUTE = 60_000;

/** A sample of host `host`, `at` ms after T0, read at `offset`. */
const row = (host: string, offset: number, at: number): SampleRow => upRow(host, offset, T0 + at);

/** The tasks of an instance with empty changelogs, and its window stage on `clock`. */
function instance(clock: FakeClock): { tasks: Tasks<SampleWindowStore, RollupAcc>; stage: WindowStage } {
  const tasks = new Tasks<SampleWindowStore, RollupAcc>(
    () => Promise.resolve(new Map()),
    config,
    windowStoreCodecs,
    createLogger('test', 'silent'),
  );
  return { tasks, stage: new WindowStage(config, tasks, undefined, clock) };
}

/** Assigns `partitions` as a rebalance does and waits for their tasks. */
async function assign(
  tasks: Tasks<SampleWindowStore, RollupAcc>,
  stage: WindowStage,
  partitions: number[],
): Promise<void> {
  const revoked = tasks.retain(partitions);
  tasks.assign(partitions);
  for (const p of partitions) await tasks.ready(p);
  stage.rebalanced(partitions, revoked, true);
}

/** The 1m results drained, as `host@minute:count#revision`. */
function minutes(stage: WindowStage): string[] {
  return stage
    .drain()
    .results.rows()
    .filter((r) => r.tier === '1m')
    .map((r) => `${r.series.labels[0]?.[1]}@${(r.start - T0) / MINUTE}:${r.values.count}#${r.revision}`);
}

describe('WindowStage punctuation', () => {
  it('stream time closes exactly the windows the watermark passed, once', async () => {
    const clock = new FakeClock(T0);
    const { tasks, stage } = instance(clock);
    await assign(tasks, stage, [0]);
    // Watermark 1m 9 s: window [0, 1m) closes at 1m 10 s.
    stage.push([batch(0, [row('a', 0, 0), row('a', 1, 30 * SECOND), row('a', 2, MINUTE + 14 * SECOND)])]);
    expect(minutes(stage)).toEqual([]);
    stage.punctuate('streamTime', T0 + MINUTE + 10 * SECOND - 1);
    expect(minutes(stage)).toEqual([]);
    stage.punctuate('streamTime', T0 + MINUTE + 10 * SECOND);
    expect(minutes(stage)).toEqual(['a@0:2#1']);
    // Again, or earlier: nothing more; window [1m, 2m) waits for 2m 10 s.
    stage.punctuate('streamTime', T0 + MINUTE + 10 * SECOND);
    stage.punctuate('streamTime', T0);
    stage.punctuate('streamTime', T0 + 2 * MINUTE + 10 * SECOND - 1);
    expect(minutes(stage)).toEqual([]);
    stage.punctuate('streamTime', T0 + 2 * MINUTE + 10 * SECOND);
    expect(minutes(stage)).toEqual(['a@1:1#1']);
    stage.close();
  });

  // The third sample closes minute 0; the fourth, for minute 0 too, is then a correction: whether
  // it is the next record or the next sample of the same record (as agents send a series' samples).
  it.each([
    ['a record that moves the watermark punctuates stream time at once, before the next record', 3],
    [
      'inside one record too: the sample that moves the watermark punctuates before the next sample of the record',
      2,
    ],
  ])('%s', async (_, lastOffset) => {
    const clock = new FakeClock(T0);
    const { tasks, stage } = instance(clock);
    await assign(tasks, stage, [0]);
    stage.push([
      batch(0, [
        row('a', 0, 0),
        row('a', 1, 30 * SECOND),
        row('a', 2, MINUTE + 15 * SECOND),
        row('a', lastOffset, 40 * SECOND),
      ]),
    ]);
    expect(minutes(stage)).toEqual(['a@0:2#1', 'a@0:3#2']);
    stage.close();
  });

  it('idleness moves the watermark at wall-clock punctuations only: between turns no store is touched', async () => {
    const clock = new FakeClock(T0);
    const { tasks, stage } = instance(clock);
    await assign(tasks, stage, [0, 1]);
    // Partition 1 stays at event time 0: it holds the watermark back while it is active.
    stage.push([batch(1, [row('b', 0, 0)]), batch(0, [row('a', 0, 0), row('a', 1, MINUTE + 20 * SECOND)])]);
    await clock.advance(config.windows.idleTimeoutMs / 2);
    // Partition 0 goes on; partition 1 turns idle at idleTimeoutMs, with no record arriving.
    stage.push([batch(0, [row('a', 2, MINUTE + 21 * SECOND)])]);
    const due = stage.nextPunctuation() as number;
    expect(due).toBe(T0 + config.windows.idleTimeoutMs);
    await clock.advance(due - 1 - clock.now());
    stage.punctuate('wallClock', clock.now());
    expect(minutes(stage)).toEqual([]);
    // Past it, and nobody asked: the windows stay as they were.
    await clock.advance(SECOND);
    expect(minutes(stage)).toEqual([]);
    const revisions = (partition: number) =>
      [...(tasks.get(partition)?.samples.entries() ?? [])].map(([, w]) => w.revision);
    expect([revisions(0), revisions(1)]).toEqual([[0, 0], [0]]);
    // The thread's next turn punctuates: the minute closes in both partitions.
    stage.punctuate('wallClock', clock.now());
    expect(minutes(stage).sort()).toEqual(['a@0:1#1', 'b@0:1#1']);
    expect([revisions(0), revisions(1)]).toEqual([[1, 0], [1]]);
    stage.close();
  });

  it('a partition revoked and assigned again: turns reach the new task only, never the revoked one', async () => {
    const clock = new FakeClock(T0);
    const { tasks, stage } = instance(clock);
    await assign(tasks, stage, [0]);
    stage.push([batch(0, [row('a', 0, 0), row('a', 1, 30 * SECOND)])]);
    const revoked = tasks.get(0);
    const before = [...(revoked?.samples.entries() ?? [])].map(([id, w]) => [id, w.revision, w.acc.count]);
    // What the revoked task had changed goes nowhere now; from here on it must not change at all.
    revoked?.samples.changes();
    const purged = revoked?.samples.purgedThrough();
    // Revoked (its state leaves with it); nothing the turns do reaches its store any more.
    await assign(tasks, stage, []);
    stage.punctuate('streamTime', Number.MAX_SAFE_INTEGER - 1);
    expect(minutes(stage)).toEqual([]);
    // Assigned again, restored from changelogs that hold nothing (no commit): a new task, which
    // the records replayed from the committed offsets fill.
    await assign(tasks, stage, [0]);
    const current = tasks.get(0);
    expect(current).not.toBe(revoked);
    stage.push([batch(0, [row('a', 0, 0), row('a', 1, 30 * SECOND), row('a', 2, 5 * MINUTE)])]);
    stage.complete();
    expect(minutes(stage)).toEqual(['a@0:2#1', 'a@5:1#1']);
    expect([...(revoked?.samples.entries() ?? [])].map(([id, w]) => [id, w.revision, w.acc.count])).toEqual(
      before,
    );
    expect(revoked?.samples.changes()).toEqual([]);
    expect(revoked?.samples.purgedThrough()).toBe(purged);
    stage.close();
  });
});
