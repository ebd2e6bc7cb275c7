import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { queryRows, type ClickHouse } from './clickhouse.js';

/** A partition merged by `compactQuietPartitions`: its table, id, and the parts it had. */
export interface Compacted {
  table: string;
  partition: string;
  parts: number;
}

/**
 * Merges every partition of the tier tables (`samples_<tier>`, ReplacingMergeTree) that no
 * insert has touched for `quietMs` and that is not one merged part yet, with `OPTIMIZE …
 * PARTITION … FINAL`. The query service reads the tiers with FINAL and
 * `do_not_merge_across_partitions_select_final`, which costs nothing on a partition that is one
 * merged part (ClickHouse skips the merge at read) and a merge of every part at every read
 * otherwise: background merges alone may leave a closed day in several parts for good. A quiet
 * partition is one whose windows are closed (the open ones get inserts at every flush); a late
 * correction makes it several parts again, merged once it is quiet again.
 */
export async function compactQuietPartitions(
  ch: ClickHouse,
  quietMs: number,
  log?: Logger,
): Promise<Compacted[]> {
  const partitions = await queryRows<{ table: string; partition_id: string; parts: string }>(
    ch,
    `SELECT table, partition_id, count() AS parts FROM system.parts
     WHERE database = {db:String} AND active AND match(table, '^samples_.+')
     GROUP BY table, partition_id
     HAVING (count() > 1 OR max(level) = 0)
       AND max(modification_time) <= now() - toIntervalSecond({quiet:UInt32})
     ORDER BY table, partition_id`,
    { db: ch.database, quiet: Math.floor(quietMs / 1000) },
  );
  const done: Compacted[] = [];
  for (const p of partitions) {
    // Partition ids are ClickHouse's own (digits, or a hash in hex): never a user's text.
    if (!/^[0-9A-Za-z_-]+$/.test(p.partition_id)) continue;
    await ch.client.command({
      query: `OPTIMIZE TABLE \`${ch.database}\`.\`${p.table}\` PARTITION ID '${p.partition_id}' FINAL`,
    });
    done.push({ table: p.table, partition: p.partition_id, parts: Number(p.parts) });
    log?.debug(
      { table: p.table, partition: p.partition_id, parts: Number(p.parts) },
      'tier partition merged',
    );
  }
  return done;
}

/**
 * Runs `compactQuietPartitions` every half of `quietMs` (at least a minute apart) until
 * stopped. A failure (a full disk, a server away) is logged and tried again next time: merging
 * is an optimization of reads, never a reason to stop writing.
 */
export function startCompaction(ch: ClickHouse, quietMs: number, log: Logger): { stop(): Promise<void> } {
  if (quietMs <= 0) return { stop: () => Promise.resolve() };
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      running = running.then(() =>
        compactQuietPartitions(ch, quietMs, log).catch((error: unknown) =>
          log.warn({ error: messageOf(error) }, 'merging quiet tier partitions failed; trying again later'),
        ),
      );
    },
    Math.max(60_000, quietMs / 2),
  );
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
