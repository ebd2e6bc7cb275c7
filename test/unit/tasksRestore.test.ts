import { describe, expect, it } from 'vitest';
import type { RollupAcc } from '../../core/aggregate.js';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { SampleWindowStore } from '../../operators/sampleWindow.js';
import { FakeClock } from '../../streams/clock.js';
import type { ChangelogEntry } from '../../streams/stateStore.js';
import { Tasks } from '../../streams/tasks.js';
import { windowStoreCodecs } from '../../topology/storeCodecs.js';
import { StreamThread } from '../../topology/streamThread.js';
import { WindowStage } from '../../topology/windowStage.js';
import { threadOptions } from './upRow.js';

const config = loadConfig(undefined, {}, { appId: 'app', topics: { metrics: 'in' } });
const log = createLogger('test', 'silent');

/** A changelog source whose reads end only when the test says so, each with the series records it is given. */
function heldChangelogs() {
  const reads: Array<{
    partitions: number[];
    finish(series: Record<number, string[]>): void;
  }> = [];
  const source = (_topics: ReadonlyArray<string>, partitions?: ReadonlySet<number>) =>
    new Promise<Map<string, ChangelogEntry[]>>((resolve) => {
      reads.push({
        partitions: [...(partitions ?? [])],
        finish: (series) => {
          const records = new Map<string, ChangelogEntry[]>();
          for (const [partition, keys] of Object.entries(series))
            records.set(
              `app-series-changelog:${partition}`,
              keys.map((key) => ({
                key,
                value: Buffer.from(JSON.stringify({ metric: key, labels: {} })),
              })),
            );
          resolve(records);
        },
      });
    });
  return { reads, source };
}

/** Lets every promise callback queued so far run. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('restoring tasks', () => {
  it('installs a restored task only if its partition is still wanted, and a later restore of it wins', async () => {
    const { reads, source } = heldChangelogs();
    const tasks = new Tasks<SampleWindowStore, RollupAcc>(source, config, windowStoreCodecs, log);
    tasks.assign([0, 1]);
    expect(reads.map((r) => r.partitions)).toEqual([[0, 1]]);
    // Asked again while restoring: no second read.
    tasks.assign([0, 1]);
    expect(reads).toHaveLength(1);
    // Partition 1 is given up while its state is read, then comes back: read again.
    tasks.retain([0]);
    tasks.assign([0, 1]);
    expect(reads.map((r) => r.partitions)).toEqual([[0, 1], [1]]);
    // The second read ends first; the first, older one must not replace what it restored.
    reads[1]?.finish({ 1: ['new-a', 'new-b'] });
    await expect(tasks.ready(1)).resolves.toMatchObject({ partition: 1 });
    reads[0]?.finish({ 0: ['zero'], 1: ['old'] });
    await expect(tasks.ready(0)).resolves.toMatchObject({ partition: 0 });
    await settled();
    expect(tasks.get(0)?.series.size).toBe(1);
    expect(tasks.get(1)?.series.size).toBe(2);
  });

  it('drops a restore that ends after its partition was given up', async () => {
    const { reads, source } = heldChangelogs();
    const tasks = new Tasks<SampleWindowStore, RollupAcc>(source, config, windowStoreCodecs, log);
    tasks.assign([2]);
    const ready = tasks.ready(2);
    tasks.retain([]);
    reads[0]?.finish({ 2: ['a'] });
    await expect(ready).rejects.toThrow('partition 2 was given up while its state was restored');
    expect(tasks.get(2)).toBeUndefined();
    expect([...tasks.all()]).toEqual([]);
  });

  it('lets a failed restore be asked for again', async () => {
    let calls = 0;
    const tasks = new Tasks<SampleWindowStore, RollupAcc>(
      () => (++calls === 1 ? Promise.reject(new Error('broker away')) : Promise.resolve(new Map())),
      config,
      windowStoreCodecs,
      log,
    );
    tasks.assign([0]);
    await expect(tasks.ready(0)).rejects.toThrow('cannot restore state of partitions 0: broker away');
    await expect(tasks.ready(0)).resolves.toMatchObject({ partition: 0 });
    expect(calls).toBe(2);
  });

  it('starts at the rebalance, and installs the task only when the thread takes the assignment at its next turn', async () => {
    const { reads, source } = heldChangelogs();
    const tasks = new Tasks<SampleWindowStore, RollupAcc>(source, config, windowStoreCodecs, log);
    const clock = new FakeClock(0);
    const thread = new StreamThread(
      threadOptions(config, clock, {
        offsets: { owns: () => true, assigned: () => [0, 1], commit: () => Promise.resolve() },
        windows: { tasks, stage: new WindowStage(config, tasks, undefined, clock) },
      }),
    );
    thread.assign([0, 1], true);
    // No turn yet: the state is being read already.
    expect(reads.map((r) => r.partitions)).toEqual([[0, 1]]);
    reads[0]?.finish({ 0: ['a'] });
    await settled();
    // Restored, but nothing sees the tasks before the turn takes the assignment.
    expect([tasks.get(0), tasks.get(1), [...tasks.all()].length]).toEqual([undefined, undefined, 0]);
    expect(thread.restored()).toBe(false);
    await thread.process([]);
    expect(thread.restored()).toBe(true);
    expect(tasks.get(0)?.series.size).toBe(1);
    expect(reads).toHaveLength(1);
  });

  it('restores again, at the turn, a partition that left and came back since the last turn', async () => {
    const { reads, source } = heldChangelogs();
    const tasks = new Tasks<SampleWindowStore, RollupAcc>(source, config, windowStoreCodecs, log);
    const clock = new FakeClock(0);
    let owned = [0];
    const thread = new StreamThread(
      threadOptions(config, clock, {
        offsets: {
          owns: (_t, p) => owned.includes(p),
          assigned: () => owned,
          commit: () => Promise.resolve(),
        },
        windows: { tasks, stage: new WindowStage(config, tasks, undefined, clock) },
      }),
    );
    // A restore not taken yet: given up at the next rebalance, not used when the partition comes back.
    thread.assign([0], true);
    reads[0]?.finish({ 0: ['before'] });
    owned = [];
    thread.assign([], false);
    owned = [0];
    thread.assign([0], true);
    await thread.process([]);
    expect(reads.map((r) => r.partitions)).toEqual([[0], [0]]);
    reads[1]?.finish({ 0: ['after-1', 'after-2'] });
    await settled();
    expect(tasks.get(0)?.series.size).toBe(2);
    // A task taken already: dropped at the turn after it left and came back, and restored again.
    owned = [];
    thread.assign([], false);
    owned = [0];
    thread.assign([0], true);
    expect(tasks.get(0)?.series.size).toBe(2);
    await thread.process([]);
    expect(tasks.get(0)).toBeUndefined();
    expect(reads.map((r) => r.partitions)).toEqual([[0], [0], [0]]);
    reads[2]?.finish({ 0: ['again'] });
    await settled();
    expect(tasks.get(0)?.series.size).toBe(1);
  });
});
