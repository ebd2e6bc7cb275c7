import { SinkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Durable, ProcessedBatch } from '../core/records.js';
import { concatColumns, sliceColumns, type BatchSeries, type SampleColumns } from '../core/sampleColumns.js';
import { queryRows, type ClickHouse } from './clickhouse.js';
import { NativeBlock } from './nativeBlock.js';
import { KIND_CODES } from './tables.js';

/** An insert block: rows of one topic-partition from a contiguous offset range. */
interface Block {
  topic: string;
  partition: number;
  first: number;
  last: number;
  /** Its rows: samples [from, to) of `samples`. */
  samples: SampleColumns;
  from: number;
  to: number;
  /** True when the block repeats one recorded before a crash or rebalance. */
  replay: boolean;
}

interface PartitionState {
  /** Batches received but not written yet, in offset order. */
  held: ProcessedBatch[];
  /** Blocks recorded by an earlier run from this partition's committed offset on, in order. */
  recorded: Array<{ first: number; last: number }>;
  loaded: boolean;
}

const SINK = 'samples';

/** A series of a write to `series`: its kind and its first and last sample's time in the write. */
interface SeriesSeen {
  series: BatchSeries;
  counter: boolean;
  first: number;
  last: number;
}

/** Numbers the series upserts of this process (and thread): `BatchSeries.upsertWrite`. */
let upsertWrites = 0;
/** Series rows are refreshed at most this often per series, so `series` stays small. */
const SERIES_REFRESH_MS = 60_000;

/**
 * The raw-samples sink: inserts rows into `samples` and `series`, idempotently.
 *
 * Each insert block holds one topic-partition's rows of a contiguous offset range and carries
 * an `insert_deduplication_token` made of that range. Its boundaries are recorded in
 * `sink_blocks` before the insert; after a crash the records from the committed offset on
 * come again, are cut into the recorded blocks, and ClickHouse drops the blocks it already has.
 */
export class SamplesSink {
  private readonly partitions = new Map<string, PartitionState>();
  /** Last `last_seen` written per series id. */
  private readonly seriesSeen = new Map<bigint, number>();

  constructor(
    private readonly ch: ClickHouse,
    private readonly log: Logger,
  ) {}

  /**
   * Forgets what was learnt of partitions before a rebalance. Held batches are dropped: the
   * consumer fetches again from the last commit, and the recorded blocks (reloaded) cut the
   * repeated records into the same blocks.
   */
  reassigned(): void {
    this.partitions.clear();
  }

  /** Writes the batches; returns per partition the last offset now durable (possibly less than received). */
  async write(batches: ProcessedBatch[]): Promise<Durable> {
    for (const batch of batches) this.state(batch.topic, batch.partition).held.push(batch);
    const blocks: Block[] = [];
    const durable: Durable = new Map();
    for (const [k, state] of this.partitions) {
      const first = state.held[0];
      if (!first) continue;
      if (!state.loaded) await this.loadRecorded(first.topic, first.partition, first.firstOffset, state);
      const cut = cutBlocks(state);
      blocks.push(...cut.blocks);
      if (cut.durableOffset !== undefined) {
        durable.set(k, { topic: first.topic, partition: first.partition, lastOffset: cut.durableOffset });
      }
    }
    const fresh = blocks.filter((b) => !b.replay && b.to > b.from);
    if (fresh.length > 0) await this.record(fresh);
    for (const block of blocks) if (block.to > block.from) await this.insertBlock(block);
    await this.upsertSeries(blocks);
    return durable;
  }

  private state(topic: string, partition: number): PartitionState {
    const k = key(topic, partition);
    let state = this.partitions.get(k);
    if (!state) {
      state = { held: [], recorded: [], loaded: false };
      this.partitions.set(k, state);
    }
    return state;
  }

  private async loadRecorded(
    topic: string,
    partition: number,
    from: number,
    state: PartitionState,
  ): Promise<void> {
    const rows = await this.ch.health.run('read sink_blocks', () =>
      queryRows<{ first: string; last: string }>(
        this.ch,
        `SELECT DISTINCT first_offset AS first, last_offset AS last FROM \`${this.ch.database}\`.sink_blocks
         WHERE sink = {sink:String} AND topic = {topic:String} AND partition = {partition:UInt32} AND last_offset >= {from:UInt64}
         ORDER BY first`,
        { sink: SINK, topic, partition, from },
      ),
    );
    state.recorded = rows.map((r) => ({ first: Number(r.first), last: Number(r.last) }));
    state.loaded = true;
    if (state.recorded.length > 0) {
      this.log.info(
        { topic, partition, from, blocks: state.recorded.length },
        'replaying recorded sink blocks',
      );
    }
  }

  private async record(blocks: Block[]): Promise<void> {
    const block = new NativeBlock(blocks.length, 6);
    block.strings('sink', blocks, () => SINK);
    block.strings('topic', blocks, (b) => b.topic);
    block.uint32s('partition', blocks, (b) => b.partition);
    block.uint64s('first_offset', blocks, (b) => BigInt(b.first));
    block.uint64s('last_offset', blocks, (b) => BigInt(b.last));
    block.uint32s('rows', blocks, (b) => b.to - b.from);
    const insert = {
      table: `\`${this.ch.database}\`.sink_blocks`,
      columns: ['sink', 'topic', 'partition', 'first_offset', 'last_offset', 'rows'],
      block: block.finish(),
    };
    await this.ch.health.run('insert into sink_blocks', () => this.ch.insertNative(insert));
  }

  private async insertBlock(block: Block): Promise<void> {
    const token = `${block.topic}:${block.partition}:${block.first}-${block.last}`;
    await this.insertRows(block, block.from, block.to, token);
    if (block.replay) await this.restoreMissing(block, token);
  }

  /**
   * A replayed block's rows that `samples` lacks, inserted again under a token of their own.
   * The engine logs an insert's deduplication token before it commits the part holding its rows:
   * a process killed in between leaves the token without the rows, and the replay of the block
   * is then dropped as a duplicate (seen in a test that SIGKILLs the topology: 25 records lost).
   * Only blocks recorded before a crash or rebalance are checked, once each.
   */
  private async restoreMissing(block: Block, token: string): Promise<void> {
    const { samples, from, to } = block;
    const { seriesIndex, ts } = samples;
    const ids = new Set<bigint>();
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < to; i++) {
      ids.add((samples.series[seriesIndex[i] as number] as BatchSeries).id);
      lo = Math.min(lo, ts[i] as number);
      hi = Math.max(hi, ts[i] as number);
    }
    const present = await this.ch.health.run('read samples of a replayed block', () =>
      queryRows<{ s: string; t: string }>(
        this.ch,
        `SELECT toString(series_id) AS s, toString(toUnixTimestamp64Milli(ts)) AS t
         FROM \`${this.ch.database}\`.samples
         WHERE series_id IN {ids:Array(UInt64)}
           AND ts BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC')`,
        { ids: [...ids], lo, hi },
      ),
    );
    const have = new Set(present.map((r) => `${r.s}@${r.t}`));
    const missing = (i: number) =>
      !have.has(`${(samples.series[seriesIndex[i] as number] as BatchSeries).id}@${ts[i] as number}`);
    let lost = 0;
    for (let i = from; i < to;) {
      if (!missing(i)) {
        i++;
        continue;
      }
      let end = i + 1;
      while (end < to && missing(end)) end++;
      // Its own token: the block's is taken. Unique, so that a crash during this insert is
      // repaired the same way by the next replay (the check above decides, not the token).
      await this.insertRows(block, i, end, `${token}:missing:${i - from}-${end - from}:${Date.now()}`);
      lost += end - i;
      i = end;
    }
    if (lost > 0)
      this.log.warn(
        { topic: block.topic, partition: block.partition, first: block.first, last: block.last, rows: lost },
        'a replayed block had lost rows (its insert was cut off after its token was logged): inserted them again',
      );
  }

  private async insertRows(block: Block, from: number, to: number, token: string): Promise<void> {
    const insert = {
      table: `\`${this.ch.database}\`.samples`,
      columns: SAMPLE_COLUMNS,
      block: samplesBlock(block.samples, from, to),
      settings: {
        insert_deduplication_token: token,
        insert_deduplicate: 1,
      },
    };
    try {
      await this.ch.health.run('insert into samples', () => this.ch.insertNative(insert), {
        retryIf: () => true,
        attempts: 6,
      });
    } catch (error) {
      throw new SinkError(`cannot insert ${to - from} rows into samples: ${(error as Error).message}`, {
        cause: error,
        retriable: true,
      });
    }
  }

  private async upsertSeries(blocks: Block[]): Promise<void> {
    const seen = new Map<bigint, SeriesSeen>();
    const write = ++upsertWrites;
    for (const { samples, from, to } of blocks) {
      const { seriesIndex, ts, counter } = samples;
      // Per series of the block (samples of a series come together): its first and last time.
      let index = -1;
      let s: SeriesSeen | undefined;
      for (let i = from; i < to; i++) {
        const t = ts[i] as number;
        if (seriesIndex[i] !== index || s === undefined) {
          index = seriesIndex[i] as number;
          const series = samples.series[index] as BatchSeries;
          // The series object remembers its entry of this write: one map lookup per series and
          // write, not per run of samples (a run per record, unbatched).
          if (series.upsertWrite === write) s = series.upsertSeen as SeriesSeen;
          else {
            s = seen.get(series.id);
            if (s === undefined)
              seen.set(series.id, (s = { series, counter: counter[i] === 1, first: t, last: t }));
            series.upsertWrite = write;
            series.upsertSeen = s;
          }
        }
        if (t < s.first) s.first = t;
        if (t > s.last) s.last = t;
      }
    }
    const fresh: Array<SeriesSeen & { id: bigint }> = [];
    for (const [id, s] of seen) {
      const written = this.seriesSeen.get(id);
      if (
        written !== undefined &&
        s.last - written < SERIES_REFRESH_MS &&
        s.first >= written - SERIES_REFRESH_MS
      )
        continue;
      this.seriesSeen.set(id, Math.max(written ?? 0, s.last));
      fresh.push({ id, ...s });
    }
    if (fresh.length === 0) return;
    const block = new NativeBlock(fresh.length, 6);
    block.strings('metric', fresh, (s) => s.series.name);
    block.uint64s('series_id', fresh, (s) => s.id);
    block.stringMaps('labels', fresh, (s) => s.series.labels);
    block.enum8s('kind', fresh, KIND_CODES, (s) => (s.counter ? 'counter' : 'gauge'));
    block.times('first_seen', fresh, (s) => s.first);
    block.times('last_seen', fresh, (s) => s.last);
    const insert = {
      table: `\`${this.ch.database}\`.series`,
      columns: ['metric', 'series_id', 'labels', 'kind', 'first_seen', 'last_seen'],
      block: block.finish(),
    };
    await this.ch.health.run('insert into series', () => this.ch.insertNative(insert), {
      retryIf: () => true,
      attempts: 6,
    });
  }
}

/** The columns of `samples` that `samplesBlock` fills, in its order. */
export const SAMPLE_COLUMNS: ReadonlyArray<string> = ['metric', 'series_id', 'ts', 'value', 'kind'];

/** Samples [from, to) as a Native block of `samples` (SAMPLE_COLUMNS), column by column. */
export function samplesBlock(samples: SampleColumns, from = 0, to = samples.length): Buffer {
  const { seriesIndex, counter } = samples;
  const series = samples.series;
  const n = to - from;
  // Per series once: its name's place in the block's dictionary and its id's 32-bit halves; per
  // row only numbers are copied (no string, no BigInt).
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const keyOfSeries = new Int32Array(series.length).fill(-1);
  const idLow = new Uint32Array(series.length);
  const idHigh = new Uint32Array(series.length);
  const metric = new Int32Array(n);
  const low = new Uint32Array(n);
  const high = new Uint32Array(n);
  const kind = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const s = seriesIndex[from + i] as number;
    let key = keyOfSeries[s] as number;
    if (key < 0) {
      const { name, id } = series[s] as BatchSeries;
      key = nameIndex.get(name) ?? -1;
      if (key < 0) nameIndex.set(name, (key = names.push(name) - 1));
      keyOfSeries[s] = key;
      idLow[s] = Number(id & 0xffff_ffffn);
      idHigh[s] = Number(id >> 32n);
    }
    metric[i] = key;
    low[i] = idLow[s] as number;
    high[i] = idHigh[s] as number;
    kind[i] = counter[from + i] === 1 ? KIND_CODES.counter : KIND_CODES.gauge;
  }
  const block = new NativeBlock(n, SAMPLE_COLUMNS.length);
  block.lowCardinalityStrings('metric', names, metric);
  block.uint64Halves('series_id', low, high);
  block.timeArray('ts', samples.ts.subarray(from, to));
  block.float64Array('value', samples.value.subarray(from, to));
  block.enum8Array('kind', KIND_CODES, kind);
  return block.finish();
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * Cuts a partition's held batches into insert blocks: first the recorded blocks (each only once
 * all its records are here), then one new block for the rest. Leaves in `held` what must wait
 * for the rest of a recorded block.
 */
function cutBlocks(state: PartitionState): { blocks: Block[]; durableOffset: number | undefined } {
  const held = state.held;
  const first = held[0] as ProcessedBatch;
  const { topic, partition } = first;
  const end = (held[held.length - 1] as ProcessedBatch).lastOffset;
  const samples = concatColumns(held.map((b) => b.samples));
  const offsets = samples.offset;
  const n = samples.length;
  const block = (first: number, last: number, from: number, to: number, replay: boolean): Block => ({
    topic,
    partition,
    first,
    last,
    samples,
    from,
    to,
    replay,
  });
  const blocks: Block[] = [];
  let at = 0; // the first sample not yet in a block
  let from = first.firstOffset; // first offset not yet in a block
  // The first sample at or after `at` whose record's offset is at least `offset` (offsets ascend).
  const seek = (offset: number) => {
    let i = at;
    while (i < n && (offsets[i] as number) < offset) i++;
    return i;
  };
  while (state.recorded.length > 0) {
    const next = state.recorded[0] as { first: number; last: number };
    if (next.last > end) break; // its records are not all here yet
    state.recorded.shift();
    // Samples before the recorded block (none, unless the recording lost a block) form their own block.
    const start = seek(next.first);
    if (start > at) blocks.push(block(from, next.first - 1, at, start, false));
    at = start;
    const upto = seek(next.last + 1);
    blocks.push(block(next.first, next.last, at, upto, true));
    at = upto;
    from = next.last + 1;
  }
  const waiting = state.recorded[0];
  if (waiting !== undefined && waiting.first <= end) {
    const start = seek(waiting.first);
    if (start > at) blocks.push(block(from, waiting.first - 1, at, start, false));
    // Hold the records of the incomplete recorded block (and after it) for the next write.
    state.held = [
      {
        recordCount: 0,
        generation: first.generation,
        topic,
        partition,
        firstOffset: waiting.first,
        lastOffset: end,
        samples: sliceColumns(samples, start, n),
        rejects: [],
      },
    ];
    return { blocks, durableOffset: waiting.first > first.firstOffset ? waiting.first - 1 : undefined };
  }
  if (at < n) blocks.push(block(from, end, at, n, false));
  state.held = [];
  return { blocks, durableOffset: end };
}
