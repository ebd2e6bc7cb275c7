import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { Durable, ProcessedBatch } from '../../core/records.js';
import { columnsOf } from '../../core/sampleColumns.js';
import { FakeClock } from '../../streams/clock.js';
import { StreamThread, type RawSink } from '../../topology/streamThread.js';
import { Tasks } from '../../streams/tasks.js';
import { windowStoreCodecs } from '../../topology/storeCodecs.js';
import { WindowStage } from '../../topology/windowStage.js';
import type { ProducerRecord } from 'kafkajs';
import { threadOptions } from './upRow.js';

/** A promise and its resolver, to hold a write until the test lets it finish. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A raw sink whose writes finish only when the test says so, in the order they were asked for. */
function heldSink(): RawSink & { asked: number[]; events: string[]; finish(): void } {
  const held: Array<{ lastOffset: number; done: ReturnType<typeof deferred<Durable>> }> = [];
  return {
    asked: [],
    events: [],
    write(batches: ProcessedBatch[]) {
      const lastOffset = Math.max(...batches.map((b) => b.lastOffset));
      this.asked.push(lastOffset);
      this.events.push(`write ${lastOffset}`);
      const done = deferred<Durable>();
      held.push({ lastOffset, done });
      return done.promise;
    },
    finish() {
      const next = held.shift();
      if (!next) throw new Error('no write is waiting');
      const d = { topic: 'in', partition: 0, lastOffset: next.lastOffset };
      this.events.push(`written ${next.lastOffset}`);
      next.done.resolve(new Map([['in\u00000', d]]));
    },
    reassigned() {
      this.events.push('reset');
    },
  };
}

const batch = (offset: number, generation = 1, partition = 0): ProcessedBatch => ({
  recordCount: 1,
  generation,
  topic: 'in',
  partition,
  firstOffset: offset,
  lastOffset: offset,
  samples: columnsOf([
    { name: 'm', seriesId: 1n, timestamp: 1000 * (offset + 1), value: offset, kind: 'gauge' },
  ]),
  rejects: [],
});

/** Settles every promise that can settle now (the held writes stay held). */
const settled = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
};

/** Whether `promise` has settled once every promise that can settle now has. */
const settledNow = async (promise: Promise<unknown>): Promise<boolean> => {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await settled();
  return done;
};

const config = loadConfig(undefined, {}, { topics: { metrics: 'in' } });

/** A thread with a raw sink and no windows; the offsets it commits go to `committed`. */
function rawOnlyThread(sink: RawSink, clock: FakeClock, committed: number[]): StreamThread {
  return new StreamThread(
    threadOptions(config, clock, {
      offsets: {
        owns: () => true,
        assigned: () => [0],
        commit: (durable: Durable) => {
          for (const d of durable.values()) committed.push(d.lastOffset);
          return Promise.resolve();
        },
      },
      sink,
    }),
  );
}

/** A thread with a held raw sink and no windows, assigned partition 0; its commits go to `committed`. */
function heldThread(): {
  sink: ReturnType<typeof heldSink>;
  committed: number[];
  clock: FakeClock;
  thread: StreamThread;
} {
  const sink = heldSink();
  const committed: number[] = [];
  const clock = new FakeClock(0);
  const thread = rawOnlyThread(sink, clock, committed);
  thread.assign([0], true);
  return { sink, committed, clock, thread };
}

describe('StreamThread writes a group while it processes the next', () => {
  it('returns before a group is written, writes groups in order one at a time, and commits only what is written', async () => {
    const { sink, committed, clock, thread } = heldThread();

    // The first group returns with its rows still being written.
    await thread.process([batch(0)]);
    expect(sink.asked).toEqual([0]);
    expect(thread.busy).toBe(true);

    // The second is processed meanwhile, but its rows wait for the first group's write.
    const second = thread.process([batch(1)]);
    expect(await settledNow(second)).toBe(false);
    expect(sink.asked).toEqual([0]);

    sink.finish();
    await second;
    expect(sink.asked).toEqual([0, 1]);

    // A commit covers what was processed: it waits for the second write, then commits offset 1.
    const commit = thread.commit();
    expect(await settledNow(commit)).toBe(false);
    expect(committed).toEqual([]);
    sink.finish();
    await commit;
    expect(committed).toEqual([1]);
    expect(thread.busy).toBe(false);

    // A commit due after a group starts behind its writes: the group returns without waiting
    // for either, and the offsets follow the rows.
    await clock.advance(config.sink.commitIntervalMs + 1);
    await thread.process([batch(2)]);
    expect(sink.asked).toEqual([0, 1, 2]);
    await settled();
    expect(committed).toEqual([1]);
    sink.finish();
    await thread.commit();
    expect(committed).toEqual([1, 2]);
  });

  it('does not hold up the next group behind a tick that has nothing to write', async () => {
    const { sink, committed, thread } = heldThread();
    await thread.process([batch(0)]);
    // A tick while the group's rows are being written returns at once, and writes nothing.
    const tick = thread.process([]);
    expect(await settledNow(tick)).toBe(true);
    await tick;
    // So the group fetched meanwhile goes through at once; it then waits for the first write.
    const next = thread.process([batch(1)]);
    expect(await settledNow(next)).toBe(false);
    expect(sink.asked).toEqual([0]);
    sink.finish();
    await next;
    expect(sink.asked).toEqual([0, 1]);
    sink.finish();
    await thread.commit();
    expect(committed).toEqual([1]);
  });

  it('fails the next group when a group cannot be written', async () => {
    const sink = { write: () => Promise.reject(new Error('disk full')), reassigned() {} };
    const thread = rawOnlyThread(sink, new FakeClock(0), []);
    thread.assign([0], true);
    await thread.process([batch(0)]);
    await expect(thread.process([batch(1)])).rejects.toThrow('disk full');
  });

  it('fails a tick that has nothing to write once a write failed, while the input is quiet', async () => {
    const sink = { write: () => Promise.reject(new Error('disk full')), reassigned() {} };
    const thread = rawOnlyThread(sink, new FakeClock(0), []);
    thread.assign([0], true);
    await thread.process([batch(0)]);
    await settled();
    await expect(thread.process([])).rejects.toThrow('disk full');
  });

  it('queues no commit per tick behind a write that does not finish', async () => {
    const { sink, committed, clock, thread } = heldThread();
    await thread.process([batch(0)]);
    // The input goes quiet while the write hangs (storage full): the ticks commit nothing.
    for (let i = 0; i < 10; i++) {
      await clock.advance(config.sink.commitIntervalMs);
      await thread.process([]);
    }
    expect(thread.busy).toBe(true);
    sink.finish();
    await settled();
    expect(thread.busy).toBe(false);
    expect(committed).toEqual([]);
    // The first tick after it commits what it wrote, once.
    await thread.process([]);
    await settled();
    expect(committed).toEqual([0]);
    await thread.process([]);
    await settled();
    expect(committed).toEqual([0]);
  });

  it('after a rebalance, writes no raw rows of a group processed before it, and starts the sink over after the writes in flight', async () => {
    const { sink, committed, thread } = heldThread();
    await thread.process([batch(0)]);
    const second = thread.process([batch(1)]);
    // A rebalance while the first group's rows are being written and the second's wait.
    thread.assign([0], false);
    expect(sink.events).toEqual(['reset', 'write 0']);
    sink.finish();
    await second;
    await settled();
    // The second group's rows come again with the new generation; the sink started over after the write.
    expect(sink.events).toEqual(['reset', 'write 0', 'written 0', 'reset']);
    await thread.process([batch(1, 2)]);
    sink.finish();
    await thread.commit();
    expect(sink.asked).toEqual([0, 1]);
    expect(committed).toEqual([1]);
  });

  it('keeps the state gauges current on a tick that writes nothing', async () => {
    const clock = new FakeClock(0);
    const log = createLogger('test', 'silent');
    const tasks = new Tasks(() => Promise.resolve(new Map()), config, windowStoreCodecs, log);
    const stage = new WindowStage(config, tasks, undefined, clock);
    const options = threadOptions(config, clock, { log, sink: heldSink(), windows: { tasks, stage } });
    const thread = new StreamThread(options);
    thread.assign([0], true);
    // The first turn takes the assignment; once the task is restored, a tick gauges its stores
    // although it writes nothing.
    await thread.process([]);
    await tasks.ready(0);
    await thread.process([]);
    const text = await options.metrics.registry.metrics();
    expect(text).toContain('metrics_pipeline_state_entries{store="window-1m-0"}');
    expect(text).toContain('metrics_pipeline_state_entries{store="series-0"}');
  });

  it('writes no changelog records of a partition revoked between the collect and the write', async () => {
    const clock = new FakeClock(0);
    const log = createLogger('test', 'silent');
    const tasks = new Tasks(() => Promise.resolve(new Map()), config, windowStoreCodecs, log);
    const stage = new WindowStage(config, tasks, undefined, clock);
    const sink = heldSink();
    const owned = new Set([0, 1]);
    const sent: Array<{ topic: string; partition: number | undefined }> = [];
    const thread = new StreamThread(
      threadOptions(config, clock, {
        log,
        producer: {
          send: (record: ProducerRecord) => {
            for (const m of record.messages) sent.push({ topic: record.topic, partition: m.partition });
            return Promise.resolve([]);
          },
        },
        offsets: {
          owns: (_topic, p) => owned.has(p),
          assigned: () => [...owned],
          commit: () => Promise.resolve(),
        },
        sink,
        windows: { tasks, stage },
      }),
    );
    thread.assign([0, 1], true);
    // A first turn takes the assignment and restores the tasks (nothing to write).
    await thread.process([]);
    await thread.process([batch(0, 1, 0), batch(0, 1, 1)]);
    // A commit collects both partitions' changes, then waits for the rows; partition 1 leaves meanwhile.
    const commit = thread.commit();
    owned.delete(1);
    thread.assign([0], false);
    sink.finish();
    await commit;
    const changelogs = sent.filter((s) => s.topic.endsWith('-changelog'));
    expect(changelogs.some((s) => s.partition === 0)).toBe(true);
    expect(changelogs.filter((s) => s.partition === 1)).toEqual([]);
  });
});
