import type { Producer } from 'kafkajs';
import { avg, quantile, rate, type Aggregate } from '../core/aggregate.js';
import { SinkError } from '../core/errors.js';
import { sendAll } from '../core/kafka.js';
import { withRetry } from '../core/retry.js';
import { encodeRollup } from '../schemas/encodeRollup.js';
import { frame, type Rollup } from '../schemas/index.js';
import type { SeriesMeta } from '../topology/tasks.js';
import type { ClickHouse } from './clickhouse.js';
import { textBody, textString, textTime } from './tabSeparated.js';

export type Tier = '1m' | '1h';

/** One window result of a tier, ready for its table and topic. */
export interface RollupRow {
  tier: Tier;
  seriesId: bigint;
  series: SeriesMeta;
  start: number;
  end: number;
  aggregate: Aggregate;
  revision: number;
}

const COLUMNS: [string, ...string[]] = [
  'metric',
  'series_id',
  'ts',
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'first',
  'last',
  'p50',
  'p90',
  'p99',
  'increase',
  'rate',
  'revision',
];

/** The published form of a window result (schemas/rollup.avsc). */
export function toRollup(row: RollupRow): Rollup {
  const a = row.aggregate;
  return {
    tier: row.tier,
    seriesId: row.seriesId.toString(),
    name: row.series.name,
    labels: Object.fromEntries(row.series.labels),
    kind: row.series.kind,
    windowStart: row.start,
    windowEnd: row.end,
    count: a.count,
    sum: a.sum,
    min: a.min,
    max: a.max,
    avg: avg(a),
    first: a.first,
    last: a.last,
    p50: quantile(a, 0.5),
    p90: quantile(a, 0.9),
    p99: quantile(a, 0.99),
    increase: a.increase,
    rate: rate(a, row.end - row.start),
    revision: row.revision,
    sketch: a.sketch.toProto(),
  };
}

/**
 * Writes window results of the tiers to `samples_1m` / `samples_1h` (ReplacingMergeTree by
 * revision: a replayed result is the same row, a correction replaces it) and publishes them,
 * Avro-encoded and keyed by series, to the tier topics.
 */
export class RollupSink {
  constructor(
    /** Without ClickHouse, results go to the topics only (a loader stores them). */
    private readonly ch: ClickHouse | undefined,
    private readonly producer: Producer,
    private readonly topics: Record<Tier, string>,
    private readonly schemaIds: Record<Tier, number>,
  ) {}

  async write(rows: RollupRow[]): Promise<void> {
    for (const tier of ['1m', '1h'] as const) {
      const mine = rows.filter((r) => r.tier === tier).map(toRollup);
      if (mine.length === 0) continue;
      if (this.ch) await insertRollups(this.ch, tier, mine);
      const messages = mine.map((r) => ({
        key: r.seriesId,
        value: frame(this.schemaIds[tier], encodeRollup(r)),
      }));
      await sendAll(this.producer, this.topics[tier], messages);
    }
  }
}

/** Inserts window results into `samples_<tier>`; a repeat of a row is harmless (ReplacingMergeTree by revision). */
export async function insertRollups(ch: ClickHouse, tier: Tier, rollups: Rollup[]): Promise<void> {
  if (rollups.length === 0) return;
  let body = '';
  for (const r of rollups) {
    body +=
      `${textString(r.name)}\t${textString(r.seriesId)}\t${textTime(r.windowStart)}\t${r.count}\t${r.sum}\t` +
      `${r.min}\t${r.max}\t${r.avg}\t${r.first}\t${r.last}\t${r.p50}\t${r.p90}\t${r.p99}\t` +
      `${r.increase}\t${r.rate}\t${r.revision}\n`;
  }
  try {
    await withRetry(
      () =>
        ch.client.insert({
          table: `\`${ch.database}\`.samples_${tier}`,
          values: textBody(body),
          format: 'TabSeparated',
          columns: COLUMNS,
        }),
      { retryIf: () => true, attempts: 6 },
    );
  } catch (error) {
    throw new SinkError(
      `cannot insert ${rollups.length} rows into samples_${tier}: ${(error as Error).message}`,
      {
        cause: error,
        retriable: true,
      },
    );
  }
}
