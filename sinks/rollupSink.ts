import type { Message } from 'kafkajs';
import type { Aggregate } from '../core/aggregate.js';
import { AGGREGATES, stateOffset, type AggregateDef, type AggregateName } from '../core/aggregates.js';
import { SinkError } from '../core/errors.js';
import { partitionForKey } from '../core/partitioner.js';
import { tierTable } from '../core/tiers.js';
import { sendAll, type RecordProducer } from '../core/kafka.js';
import type { SeriesMeta } from '../core/series.js';
import { SketchProtoList } from '../core/sketch.js';
import {
  encodeRollupColumns,
  rollupColumnsBound,
  rollupColumnsOf,
  type RollupColumns,
} from '../schemas/encodeRollup.js';
import type { Rollup } from '../schemas/index.js';
import type { ClickHouse } from './clickhouse.js';
import { NativeBlock } from './nativeBlock.js';
import { TIER_AGGREGATES } from './tables.js';

/** A tier's name (`tiers[].name`: 1m, 5m, 1h, …). */
export type Tier = string;

/** Where the results of a tier go: its topic, the schema id registered for it and the topic's partitions. */
export interface TierOutput {
  name: Tier;
  topic: string;
  schemaId: number;
  partitions: number;
}

/** One window result of a tier, ready for its table and topic. */
export interface RollupRow {
  tier: Tier;
  /** The series id as decimal text (the window stores' key, the topics' record key). */
  seriesKey: string;
  series: SeriesMeta;
  start: number;
  end: number;
  aggregate: Aggregate;
  revision: number;
}

/** The columns of `samples_<tier>` that `rollupBlock` fills, in its order. */
const COLUMNS: ReadonlyArray<string> = ['metric', 'series_id', 'ts', ...TIER_AGGREGATES, 'revision'];

/** The labels of a series as an object, made once per series rather than once per result. */
const labelObjects = new WeakMap<SeriesMeta, Record<string, string>>();

function labelsOf(series: SeriesMeta): Record<string, string> {
  let labels = labelObjects.get(series);
  if (labels === undefined) labelObjects.set(series, (labels = Object.fromEntries(series.labels)));
  return labels;
}

/** The registry's entries with their state offsets, resolved once. */
const FINALIZERS = (AGGREGATES as readonly AggregateDef[]).map((def) => ({
  name: def.name,
  at: stateOffset(def.name),
  finalize: def.finalize,
}));

/** The published form of a window result (schemas/rollup.avsc): every registry aggregate finalized. */
export function toRollup(row: RollupRow): Rollup {
  const a = row.aggregate;
  const sizeMs = row.end - row.start;
  const out: Record<string, unknown> = {
    tier: row.tier,
    seriesId: row.seriesKey,
    name: row.series.name,
    labels: labelsOf(row.series),
    kind: row.series.kind,
    windowStart: row.start,
    windowEnd: row.end,
  };
  for (const f of FINALIZERS) out[f.name] = f.finalize(a, sizeMs, f.at);
  out.revision = row.revision;
  out.sketch = a.sketch.toProto();
  return out as unknown as Rollup;
}

/**
 * Writes window results of the tiers to `samples_<tier>` (ReplacingMergeTree by count: a replayed
 * result is the same row, a correction replaces it) and publishes them, Avro-encoded in batches
 * per partition, to the tier topics.
 */
export class RollupSink {
  /** Per tier and series key, the partition kafkajs' default partitioner gives its records. */
  private readonly partitionOf = new Map<Tier, Map<string, number>>();

  constructor(
    /** Without ClickHouse, results go to the topics only (a loader stores them). */
    private readonly ch: ClickHouse | undefined,
    private readonly producer: RecordProducer,
    /** The configured tiers, finest first. */
    private readonly tiers: ReadonlyArray<TierOutput>,
  ) {
    for (const t of tiers) this.partitionOf.set(t.name, new Map());
  }

  /**
   * The partition of a series' records: what the default partitioner (murmur2 of the key, as
   * Kafka's Java clients) gives, worked out once per series instead of hashing every record.
   */
  private partition(tier: TierOutput, key: string): number {
    const known = this.partitionOf.get(tier.name) as Map<string, number>;
    let partition = known.get(key);
    if (partition === undefined) {
      partition = partitionForKey(key, tier.partitions);
      if (known.size >= MAX_PARTITIONS_KNOWN) known.clear();
      known.set(key, partition);
    }
    return partition;
  }

  /**
   * Publishes the results as batches, one record per partition of the tier topic holding the
   * results for that partition's series in order (schemas/rollupBatch.avsc), keyed by the series
   * id of its first result: one produced record per partition and flush instead of one per window.
   *
   * Each result's aggregates were finalized and its sketch written when the windows emitted it
   * (`WindowResults`); the topic records are encoded a chunk at a time, with a turn of the event
   * loop between chunks: a watermark that closes the windows of every series at once hands over
   * 100,000s of results, and encoding them in one go held the event loop for seconds (no Kafka
   * heartbeats meanwhile). The table insert and the topic sends then run at the same time; both
   * are awaited.
   */
  async write(rows: ReadonlyArray<RollupRow>): Promise<void> {
    await this.writeResults(WindowResults.of(rows));
  }

  /** `write` for results gathered as columns as the windows emitted them (`WindowResults`). */
  async writeResults(results: WindowResults): Promise<void> {
    const unknown = results.tiers().find((t) => !this.partitionOf.has(t));
    if (unknown !== undefined) throw new SinkError(`a result of tier ${unknown}, which is not configured`);
    for (const tier of this.tiers) {
      const columns = results.columns(tier.name);
      if (columns === undefined || columns.length === 0) continue;
      const byPartition = new Map<number, number[]>();
      for (let i = 0; i < columns.length; i++) {
        const partition = this.partition(tier, columns.seriesId[i] as string);
        let list = byPartition.get(partition);
        if (!list) byPartition.set(partition, (list = []));
        list.push(i);
      }
      const messages: Message[] = [];
      let encoded = 0;
      for (const [partition, indexes] of byPartition) {
        for (const batch of batches(columns, indexes)) {
          if (encoded >= CHUNK) {
            await nextTurn();
            encoded = 0;
          }
          encoded += batch.length;
          messages.push({
            key: columns.seriesId[batch[0] as number] as string,
            value: encodeRollupColumns(columns, batch, tier.schemaId),
            partition,
          });
        }
      }
      await Promise.all([
        this.ch
          ? insertBlock(this.ch, tier.name, columns.length, () => rollupColumnsBlock(columns))
          : undefined,
        sendAll(this.producer, tier.topic, messages),
      ]);
    }
  }
}

/**
 * Window results gathered per tier as columns while the windows emit them: each result's
 * aggregates are finalized and its sketch written out at once, so that nothing of it but numbers
 * and bytes waits for the write (a flush's results wait while the next flush runs).
 */
export class WindowResults {
  private readonly byTier = new Map<Tier, RollupColumnsBuilder>();
  private count = 0;

  /** Results given as rows. */
  static of(rows: ReadonlyArray<RollupRow>): WindowResults {
    const results = new WindowResults();
    for (const r of rows) results.add(r.tier, r.seriesKey, r.series, r.start, r.end, r.aggregate, r.revision);
    return results;
  }

  /** Results in all. */
  get length(): number {
    return this.count;
  }

  add(
    tier: Tier,
    seriesKey: string,
    series: SeriesMeta,
    start: number,
    end: number,
    aggregate: Aggregate,
    revision: number,
  ): void {
    let builder = this.byTier.get(tier);
    if (builder === undefined) this.byTier.set(tier, (builder = new RollupColumnsBuilder(tier)));
    builder.add(seriesKey, series, start, end, aggregate, revision);
    this.count++;
  }

  /** The tiers that have results, in the order of their first. */
  tiers(): Tier[] {
    return [...this.byTier.keys()];
  }

  /** A tier's results as columns (made once), in the order they came; undefined if it has none. */
  columns(tier: Tier): RollupColumns | undefined {
    return this.byTier.get(tier)?.done();
  }

  /** Every result as a plain object (tests and tools): its identity, window, revision and finalized aggregates. */
  rows(): ResultRow[] {
    return this.tiers().flatMap((tier) => {
      const c = this.columns(tier) as RollupColumns;
      return Array.from({ length: c.length }, (_, i) => ({
        tier,
        seriesKey: c.seriesId[i] as string,
        series: c.series[i] as SeriesMeta,
        start: c.windowStart[i] as number,
        end: c.windowEnd[i] as number,
        revision: c.revision[i] as number,
        values: Object.fromEntries(
          FINALIZERS.map((f, v) => [f.name, (c.values[v] as Float64Array)[i] as number]),
        ) as Record<AggregateName, number>,
      }));
    });
  }
}

/** One result of `WindowResults.rows`. */
export interface ResultRow extends Omit<RollupRow, 'aggregate'> {
  /** Each registry aggregate, finalized (`count`, `sum`, …). */
  values: Record<AggregateName, number>;
}

/** One tier's results appended as columns; `done` gives them as `RollupColumns`. */
class RollupColumnsBuilder {
  private length = 0;
  private readonly seriesId: string[] = [];
  private readonly series: SeriesMeta[] = [];
  private readonly windowStart = new F64Column();
  private readonly windowEnd = new F64Column();
  private readonly revision = new F64Column();
  private readonly values = FINALIZERS.map(() => new F64Column());
  private readonly sketches = new SketchProtoList();
  private made: RollupColumns | undefined;

  constructor(private readonly tier: Tier) {}

  add(
    seriesKey: string,
    series: SeriesMeta,
    start: number,
    end: number,
    a: Aggregate,
    revision: number,
  ): void {
    if (this.made) throw new Error('results added after their columns were made');
    const sizeMs = end - start;
    this.seriesId.push(seriesKey);
    this.series.push(series);
    this.windowStart.push(start);
    this.windowEnd.push(end);
    this.revision.push(revision);
    for (let f = 0; f < FINALIZERS.length; f++) {
      const { finalize, at } = FINALIZERS[f] as (typeof FINALIZERS)[number];
      (this.values[f] as F64Column).push(finalize(a, sizeMs, at));
    }
    this.sketches.add(a.sketch);
    this.length++;
  }

  done(): RollupColumns {
    if (this.made) return this.made;
    const { bytes, at } = this.sketches.done();
    this.made = {
      tier: this.tier,
      length: this.length,
      seriesId: this.seriesId,
      series: this.series,
      windowStart: this.windowStart.done(),
      windowEnd: this.windowEnd.done(),
      revision: this.revision.done(),
      values: this.values.map((v) => v.done()),
      sketch: bytes,
      sketchAt: at,
    };
    return this.made;
  }
}

/** A growing column of doubles. */
class F64Column {
  private array = new Float64Array(256);
  private length = 0;

  push(v: number): void {
    if (this.length === this.array.length) {
      const grown = new Float64Array(this.array.length * 2);
      grown.set(this.array);
      this.array = grown;
    }
    this.array[this.length++] = v;
  }

  done(): Float64Array {
    return this.array.subarray(0, this.length);
  }
}

/** A tier's results as columns (`RollupColumns`): every registry aggregate finalized once per result. */
export function rollupColumns(tier: Tier, rows: ReadonlyArray<RollupRow>): RollupColumns {
  const builder = new RollupColumnsBuilder(tier);
  for (const r of rows) builder.add(r.seriesKey, r.series, r.start, r.end, r.aggregate, r.revision);
  return builder.done();
}

/** Bytes of results one record holds at most: well under Kafka's default 1 MB per record. */
const MAX_BATCH_BYTES = 512 * 1024;

/** Cuts a partition's results (rows of `columns`) into consecutive batches of at most MAX_BATCH_BYTES encoded. */
function* batches(columns: RollupColumns, results: ReadonlyArray<number>): Generator<number[]> {
  let batch: number[] = [];
  let bytes = 0;
  for (const r of results) {
    const bound = rollupColumnsBound(columns, r);
    if (batch.length > 0 && bytes + bound > MAX_BATCH_BYTES) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(r);
    bytes += bound;
  }
  if (batch.length > 0) yield batch;
}

/** Series whose partition a RollupSink remembers per tier, at most (beyond, it starts over). */
const MAX_PARTITIONS_KNOWN = 1_000_000;

/** Results encoded between two turns of the event loop, at most. */
const CHUNK = 5000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Window results as a Native block of `samples_<tier>` (COLUMNS). */
export function rollupBlock(rollups: ReadonlyArray<Rollup>): Buffer {
  return rollupColumnsBlock(rollupColumnsOf(rollups));
}

/** Window results as columns (`RollupColumns`), as a Native block of `samples_<tier>` (COLUMNS). */
export function rollupColumnsBlock(c: RollupColumns): Buffer {
  // Per series once (results of a series share its id, and the id its name): the name's place in
  // the block's dictionary and the id's 32-bit halves; per row one lookup and numbers copied.
  const n = c.length;
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const known = new Map<string, number>();
  const seriesName: number[] = [];
  const seriesLow: number[] = [];
  const seriesHigh: number[] = [];
  const metric = new Int32Array(n);
  const low = new Uint32Array(n);
  const high = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const id = c.seriesId[i] as string;
    let s = known.get(id);
    if (s === undefined) {
      const name = (c.series[i] as SeriesMeta).name;
      let k = nameIndex.get(name);
      if (k === undefined) nameIndex.set(name, (k = names.push(name) - 1));
      const value = BigInt(id);
      s = seriesName.push(k) - 1;
      seriesLow.push(Number(value & 0xffff_ffffn));
      seriesHigh.push(Number(value >> 32n));
      known.set(id, s);
    }
    metric[i] = seriesName[s] as number;
    low[i] = seriesLow[s] as number;
    high[i] = seriesHigh[s] as number;
  }
  const block = new NativeBlock(n, COLUMNS.length);
  block.lowCardinalityStrings('metric', names, metric);
  block.uint64Halves('series_id', low, high);
  block.timeArray('ts', c.windowStart);
  (AGGREGATES as readonly AggregateDef[]).forEach(({ name, column }, f) => {
    const values = c.values[f] as Float64Array;
    if (column.type === 'UInt32') block.uint32Array(name, Uint32Array.from(values));
    else block.float64Array(name, values);
  });
  block.uint32Array('revision', Uint32Array.from(c.revision));
  return block.finish();
}

/** Inserts window results into `samples_<tier>`; a repeat of a row is harmless (ReplacingMergeTree by revision). */
export async function insertRollups(ch: ClickHouse, tier: Tier, rollups: Rollup[]): Promise<void> {
  if (rollups.length === 0) return;
  await insertBlock(ch, tier, rollups.length, () => rollupBlock(rollups));
}

/**
 * Inserts a Native block of `rows` window results (made by `block`) into `samples_<tier>`,
 * retrying. The engine does not collapse the block's rows of one window (a result and its
 * correction in the same write) as it inserts (`optimize_on_insert`): the merges and FINAL do,
 * as for rows of different writes. On the bench's 170,000 results of one close that halved the
 * insert (bench/README.md, "Tenth pass").
 */
async function insertBlock(ch: ClickHouse, tier: Tier, rows: number, block: () => Buffer): Promise<void> {
  const insert = {
    table: `\`${ch.database}\`.${tierTable(tier)}`,
    columns: COLUMNS,
    block: block(),
    settings: { optimize_on_insert: 0 },
  };
  try {
    await ch.health.run(`insert into ${tierTable(tier)}`, () => ch.insertNative(insert), {
      retryIf: () => true,
      attempts: 6,
    });
  } catch (error) {
    throw new SinkError(`cannot insert ${rows} rows into ${tierTable(tier)}: ${(error as Error).message}`, {
      cause: error,
      retriable: true,
    });
  }
}
