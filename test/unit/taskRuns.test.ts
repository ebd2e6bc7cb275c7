import { describe, expect, it } from 'vitest';
import type { ProcessedBatch, SampleOrigin, SampleRun } from '../../core/records.js';
import { SampleColumnsBuilder, type BatchSeries } from '../../core/sampleColumns.js';
import type { StreamEvent } from '../../core/stream.js';
import { prng } from '../../producer/synthetic.js';
import { channelOf, type ProcessorContext } from '../../streams/context.js';
import type { Checkpoint } from '../../streams/tasks.js';
import { inBatch, newTask } from './upRow.js';

/**
 * How `StreamTask.process` (streams/task.ts) cuts a batch's samples into runs: (a) the runs cover
 * the samples not applied already, once each and in order; (b) a run is of one watermark channel;
 * (c) a sample that raises its channel's largest event time is a run of its own; (d) an event has
 * its first sample's record offset and its largest event time; (e) a batch processed again
 * forwards nothing. Random batches (seeded: a failure names its seed) against a model of these
 * rules, then a few made by hand.
 */

type DataEvent = Extract<StreamEvent<SampleRun>, { kind: 'data' }>;
/** A record: its offset, its samples' times (and series), where it was read first behind a repartition topic. */
interface Rec {
  offset: number;
  ts: number[];
  series?: number[];
  origin?: SampleOrigin;
}

const SERIES: BatchSeries[] = [1, 2, 3, 4].map((n) => ({
  id: BigInt(n),
  key: `${n}`,
  name: `m${n}`,
  labels: [],
}));

function batchOf(partition: number, records: Rec[], lastOffset?: number): ProcessedBatch {
  const builder = new SampleColumnsBuilder(4);
  for (const r of records)
    r.ts.forEach((ts, k) => builder.push(SERIES[r.series?.[k] ?? k % 4]!, ts, 1, false, r.offset, r.origin));
  return inBatch(
    partition,
    builder.finish(),
    records.length,
    records[0]!.offset,
    lastOffset ?? records[records.length - 1]!.offset,
  );
}

/** A task of `partition`, and `process`: the events it forwards for a batch. */
function harness(partition: number, upstreamPartitions: number | undefined, restored?: Checkpoint) {
  const task = newTask(partition, restored);
  const events: DataEvent[] = [];
  const ctx: ProcessorContext = {
    clock: { now: () => 0, schedule: () => ({ cancel: () => undefined }) },
    upstreamPartitions,
    inputTopic: 'in',
    watermark: () => Number.NEGATIVE_INFINITY,
    observeChannel: () => undefined,
    forward: (event) => void events.push(event),
    task: () => undefined,
    tasks: () => [],
  };
  return (batch: ProcessedBatch) => {
    events.length = 0;
    task.process(batch, ctx);
    return [...events];
  };
}

/** The runs forwarded, as [from, to, offset, timestamp, channel]. */
const runs = (events: DataEvent[]) =>
  events.map((e) => [e.value.from, e.value.to, e.offset, e.timestamp, e.channel]);

/** What was applied: the checkpoint offset, the largest time, per input partition the last offset and largest time. */
interface Model {
  offset: number;
  max: number;
  upstream: Map<number, { offset: number; max: number }>;
}

/** The samples of `records` the rules apply (index, channel, whether it raises), `state` updated. */
function expectedOf(state: Model, records: Rec[], partition: number) {
  const applied: Array<{ i: number; channel: number | undefined; raises: boolean }> = [];
  let i = 0;
  for (const { offset, ts, origin } of records) {
    // A record's samples share its origin (one input record, repartitioned).
    const known = origin && state.upstream.get(origin.partition);
    const skip = offset <= state.offset || (origin !== undefined && origin.offset <= (known?.offset ?? -1));
    const position = origin ? { offset: origin.offset, max: known?.max ?? -Infinity } : state;
    if (!skip && origin) state.upstream.set(origin.partition, position);
    for (const t of ts) {
      if (!skip) {
        applied.push({
          i,
          channel: origin && channelOf(partition, origin.partition),
          raises: t > position.max,
        });
        position.max = Math.max(position.max, t);
      }
      i++;
    }
  }
  return applied;
}

function property(seed: number): void {
  const rand = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const up = rand() < 0.5 ? int(2, 3) : undefined;
  const partition = int(0, 3);
  let [offset, ts] = [int(0, 20), 1000];
  const next = [int(0, 3), int(0, 3), int(0, 3)];
  let restored: Checkpoint | undefined;
  if (rand() < 0.6) {
    restored = { topic: 'in', offset: offset + int(-3, 4), maxTimestamp: 1000 + int(-5, 10) };
    if (up !== undefined) restored.upstream = {};
    for (let p = 0; p < (up ?? 0); p++)
      if (rand() < 0.6)
        restored.upstream![p] = { offset: next[p]! + int(-2, 1), maxTimestamp: 1000 + int(-5, 10) };
  }
  const state: Model = {
    offset: restored?.offset ?? -1,
    max: restored?.maxTimestamp ?? -Infinity,
    upstream: new Map(),
  };
  for (const [p, { offset, maxTimestamp }] of Object.entries(restored?.upstream ?? {}))
    state.upstream.set(Number(p), { offset, max: maxTimestamp });
  const process = harness(partition, up, restored);
  let batch: ProcessedBatch | undefined;
  for (let b = 1, batches = int(1, 3); b <= batches; b++) {
    const records: Rec[] = [];
    for (let n = int(1, 6); n > 0; n--) {
      const r: Rec = { offset: (offset += int(1, 2)), ts: [], series: [] };
      const p = int(0, (up ?? 1) - 1);
      // Now and then a replay upstream repeats input records already repartitioned.
      const from = rand() < 0.25 ? Math.max(0, next[p]! - int(1, 3)) : next[p]!++;
      if (up !== undefined) r.origin = { partition: p, offset: from };
      for (let s = int(1, 5); s > 0; s--) {
        r.ts.push((ts += int(-3, 4)));
        r.series!.push(int(0, 3));
      }
      records.push(r);
    }
    batch = batchOf(partition, records, offset + int(0, 1));
    const events = process(batch);
    const expected = expectedOf(state, records, partition);
    state.offset = Math.max(state.offset, batch.lastOffset);
    const tag = `seed ${seed}, batch ${b}`;
    const covered = events.flatMap((e) =>
      [...Array(e.value.to - e.value.from).keys()].map((k) => k + e.value.from),
    );
    const applied = expected.map((x) => x.i);
    expect(covered, `${tag}: (a) the runs cover the samples not skipped, once, in order`).toEqual(applied);
    const { offset: at, ts: times } = batch.samples;
    for (const e of events) {
      const { from, to } = e.value;
      const members = expected.filter((x) => x.i >= from && x.i < to);
      const fail = (rule: string) =>
        expect.fail(`${tag}, run [${from}, ${to}) ${JSON.stringify(runs([e]))}: ${rule}`);
      if (e.value.columns !== batch.samples || e.partition !== partition)
        fail("the batch's columns and partition");
      if (members.some((x) => x.channel !== e.channel)) fail('(b) every sample of the run in event.channel');
      if (members.some((x) => x.raises) && to - from !== 1) fail('(c) a raising sample is a run of its own');
      if (e.offset !== at[from]) fail(`(d) the offset of the first sample's record, ${at[from]}`);
      if (e.timestamp !== Math.max(...times.subarray(from, to))) fail('(d) the largest ts of the run');
    }
  }
  expect(process(batch!), `seed ${seed}: (e) the last batch again forwards nothing`).toEqual([]);
}

describe('StreamTask.process cuts runs', () => {
  it('by the rules, on random batches', () => {
    for (let seed = 1; seed <= 500; seed++) property(seed);
  });

  it('a first run below the restored largest time keeps its record offset', () => {
    const process = harness(0, undefined, { topic: 'in', offset: 9, maxTimestamp: 100 });
    const batch = batchOf(0, [
      { offset: 10, ts: [50, 60] },
      { offset: 11, ts: [200, 70] },
      { offset: 12, ts: [80] },
    ]);
    expect(runs(process(batch))).toEqual([
      [0, 2, 10, 60, undefined],
      [2, 3, 11, 200, undefined],
      [3, 5, 11, 80, undefined],
    ]);
    expect(process(batch)).toEqual([]);
  });

  it('skips the records at or before the checkpoint', () => {
    const process = harness(2, undefined, { topic: 'in', offset: 11, maxTimestamp: 5 });
    const batch = batchOf(2, [
      { offset: 10, ts: [5, 6] },
      { offset: 11, ts: [7] },
      { offset: 12, ts: [3, 4, 9] },
    ]);
    expect(runs(process(batch))).toEqual([
      [3, 5, 12, 4, undefined],
      [5, 6, 12, 9, undefined],
    ]);
  });

  it('behind a repartition topic: a channel per input partition, replayed input skipped', () => {
    const upstream = { 0: { offset: 4, maxTimestamp: 50 } };
    const process = harness(1, 2, { topic: 'in', offset: 2, maxTimestamp: 50, upstream });
    const batch = batchOf(1, [
      { offset: 3, ts: [40], origin: { partition: 0, offset: 4 } },
      { offset: 4, ts: [30, 20, 22], origin: { partition: 1, offset: 0 } },
      { offset: 5, ts: [45, 60], origin: { partition: 0, offset: 5 } },
      { offset: 6, ts: [25, 28], origin: { partition: 1, offset: 1 } },
      { offset: 7, ts: [99], origin: { partition: 1, offset: 0 } },
    ]);
    const [c0, c1] = [channelOf(1, 0), channelOf(1, 1)];
    expect(runs(process(batch))).toEqual([
      [1, 2, 4, 30, c1],
      [2, 4, 4, 22, c1],
      [4, 5, 5, 45, c0],
      [5, 6, 5, 60, c0],
      [6, 8, 6, 28, c1],
    ]);
  });
});
