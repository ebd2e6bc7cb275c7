import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { committedToEnd } from '../../core/kafka.js';
import { createLogger } from '../../core/log.js';
import type { Durable } from '../../core/records.js';
import type { ConsumerRuntime } from '../../streams/consumerRuntime.js';
import { GroupOffsets } from '../../streams/groupOffsets.js';
import { createTopologyMetrics } from '../../topology/metrics.js';

type Commit = Array<{ topic: string; partition: number; offset: string }>;

function durable(...entries: Array<[string, number, number]>): Durable {
  return new Map(
    entries.map(([topic, partition, lastOffset]) => [
      `${topic}\u0000${partition}`,
      { topic, partition, lastOffset },
    ]),
  );
}

function setup() {
  const commits: Commit[] = [];
  const deleted: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> = [];
  const runtime = {
    commit: async (offsets: Commit) => {
      commits.push(offsets);
      return offsets;
    },
  } as unknown as ConsumerRuntime;
  const admin = {
    deleteTopicRecords: async (request: (typeof deleted)[number]) => void deleted.push(request),
  } as unknown as Admin;
  const offsets = new GroupOffsets({
    runtime,
    admin,
    groupId: 'g',
    topics: ['in', 'rep'],
    repartition: 'rep',
    metrics: createTopologyMetrics(),
    log: createLogger('test', 'silent'),
  });
  return { offsets, commits, deleted };
}

describe('GroupOffsets', () => {
  it('commits the partitions it owns, never behind its own last commit, and purges what it committed', async () => {
    const { offsets, commits, deleted } = setup();
    offsets.assign({ in: [0, 1], rep: [1] });
    await offsets.commit(durable(['in', 0, 9], ['in', 2, 5], ['rep', 1, 3], ['rep', 0, 7]), 1);
    expect(commits).toEqual([
      [
        { topic: 'in', partition: 0, offset: '10' },
        { topic: 'rep', partition: 1, offset: '4' },
      ],
    ]);
    await offsets.commit(durable(['in', 0, 4], ['rep', 1, 5]), 1);
    expect(commits[1]).toEqual([{ topic: 'rep', partition: 1, offset: '6' }]);
    await offsets.purge();
    expect(deleted).toEqual([{ topic: 'rep', partitions: [{ partition: 1, offset: '6' }] }]);
  });
});

describe('committedToEnd', () => {
  const admin = (ends: Array<[number, number, number]>, group: Array<[number, number]>) =>
    ({
      fetchTopicOffsets: async () =>
        ends.map(([partition, low, high]) => ({ partition, low: String(low), high: String(high) })),
      fetchOffsets: async () => [
        {
          topic: 't',
          partitions: group.map(([partition, offset]) => ({ partition, offset: String(offset) })),
        },
      ],
    }) as unknown as Admin;

  it('is true once every partition is committed to its end, or has nothing left after its log start', async () => {
    expect(await committedToEnd(admin([[0, 0, 5]], [[0, 5]]), 'g', 't')).toBe(true);
    expect(await committedToEnd(admin([[0, 0, 5]], [[0, 4]]), 'g', 't')).toBe(false);
    expect(await committedToEnd(admin([[0, 0, 5]], [[0, 4]]), 'g', 't', new Map([[0, 5]]))).toBe(true);
    expect(await committedToEnd(admin([[0, 0, 0]], [[0, -1]]), 'g', 't')).toBe(true);
    // Purged up to its end, the group offset reset (kafkajs commits -2 after an out-of-range fetch).
    expect(await committedToEnd(admin([[0, 26, 26]], [[0, -2]]), 'g', 't')).toBe(true);
    expect(await committedToEnd(admin([[0, 20, 26]], [[0, -2]]), 'g', 't')).toBe(false);
  });
});
