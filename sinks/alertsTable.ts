import { SinkError } from '../core/errors.js';
import type { AlertEvent } from '../schemas/index.js';
import type { ClickHouse } from './clickhouse.js';

const COLUMNS = [
  'rule',
  'fingerprint',
  'ts',
  'state',
  'severity',
  'labels',
  'annotations',
  'value',
  'starts_at',
  'ends_at',
] as const;

/**
 * Inserts alert events into the `alerts` history table. A repeated event (a replay) is the same
 * row, which ReplacingMergeTree keeps once. NaN and ±Infinity values (an alert on a ratio
 * divided by zero) are stored as they are.
 */
export async function insertAlerts(ch: ClickHouse, events: ReadonlyArray<AlertEvent>): Promise<void> {
  if (events.length === 0) return;
  const values = events.map((e) => [
    e.rule,
    e.fingerprint,
    e.timestamp,
    e.state,
    e.severity,
    e.labels,
    e.annotations,
    Number.isFinite(e.value) ? e.value : String(e.value).toLowerCase(),
    e.startsAt,
    e.endsAt,
  ]);
  try {
    await ch.health.run(
      'insert into alerts',
      () =>
        ch.client.insert({
          table: `\`${ch.database}\`.alerts`,
          values,
          format: 'JSONCompactEachRow',
          columns: [...COLUMNS],
        }),
      { retryIf: () => true, attempts: 6 },
    );
  } catch (error) {
    throw new SinkError(`cannot insert ${values.length} rows into alerts: ${(error as Error).message}`, {
      cause: error,
      retriable: true,
    });
  }
}
