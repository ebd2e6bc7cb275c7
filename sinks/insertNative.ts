import { accessSync, constants, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';

/** A block of rows in ClickHouse's Native format (sinks/nativeBlock.ts) bound for one table. */
export interface NativeInsert {
  /** The table, database-qualified and quoted as needed. */
  table: string;
  /** The table's columns in the block's column order. */
  columns: ReadonlyArray<string>;
  block: Buffer;
  /** Settings of this insert only, e.g. `insert_deduplication_token`. */
  settings?: Readonly<Record<string, string | number>>;
}

export type InsertNative = (insert: NativeInsert) => Promise<void>;

/** The one call of the embedded engine's session an insert needs. */
export interface EmbeddedSession {
  queryAsync(sql: string): Promise<unknown>;
}

/**
 * Inserts into the embedded engine: the block goes to a file (under a tmpfs where there is one)
 * that one statement reads, `INSERT … SELECT * FROM file(…, Native) SETTINGS …`. The embedded
 * engine's client hook takes text bodies only, turns every setting into a `SET` statement of
 * its own and parses the whole body as SQL text: 2 M rows cost 8–12.6 CPU s that way as
 * TabSeparated, 1.9–2.4 as a Native file, encoding included (bench/README.md, "Measured: binary inserts…").
 */
export function embeddedInsert(session: EmbeddedSession, dataPath: string): InsertNative {
  const spool = spoolFolder(dataPath);
  return async ({ table, columns, block, settings }) => {
    const name = `metrics-pipeline-insert-${process.pid}-${spooled++}.native`;
    let file = join(spool, name);
    try {
      try {
        // At once, on this thread: a tmpfs (or the page cache, without one) takes a block in
        // milliseconds, while `fs/promises` writes it 512 KiB per turn of the thread pool, which
        // the engine's queries occupy (2.4 s in all for the bench's 140 MB).
        writeFileSync(file, block);
      } catch (error) {
        // A small tmpfs (Docker's /dev/shm is 64 MiB) must not pause inserts while the data folder has room.
        if (spool === dataPath || (error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        await unlink(file).catch(() => undefined);
        file = join(dataPath, name);
        await writeFile(file, block);
      }
      await session.queryAsync(
        `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM file(${literal(file)}, Native)` +
          settingsClause(settings),
      );
    } finally {
      await unlink(file).catch(() => undefined);
    }
  };
}

/**
 * Inserts into a ClickHouse server: the same Native block as the body of
 * `INSERT INTO t (…) FORMAT Native` over HTTP, the settings as query parameters.
 */
export function httpInsert(client: ClickHouseClient): InsertNative {
  return async ({ table, columns, block, settings }) => {
    const result = await client.exec({
      query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT Native`,
      values: Readable.from([block], { objectMode: false }),
      clickhouse_settings: settings,
    });
    // The (empty) response must be read for the socket to return to the pool.
    result.stream.resume();
    await new Promise<void>((resolve, reject) => {
      result.stream.once('end', resolve).once('error', reject);
    });
  };
}

/** Files spooled by this process so far: every insert gets a name of its own, whichever engine it goes to. */
let spooled = 0;

/** `/dev/shm` when it is a writable folder (files there never touch a disk), else the data folder. */
function spoolFolder(dataPath: string): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return dataPath;
  }
}

function settingsClause(settings: NativeInsert['settings']): string {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return '';
  return ` SETTINGS ${entries
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`invalid setting name ${JSON.stringify(name)}`);
      return `${name} = ${typeof value === 'number' ? String(value) : literal(value)}`;
    })
    .join(', ')}`;
}

/** A ClickHouse string literal: backslash and quote escaped. */
function literal(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}
