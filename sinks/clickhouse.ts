import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { Config } from '../core/config.js';
import { SinkError } from '../core/errors.js';
import { StorageHealth } from './storageHealth.js';
import { embeddedInsert, httpInsert, type EmbeddedSession, type InsertNative } from './insertNative.js';

type ClientConnection = NonNullable<Parameters<typeof createClient>[0]>['connection'];

export interface ClickHouse {
  client: ClickHouseClient;
  database: string;
  /** The data folder of the embedded engine; undefined for a ClickHouse server. */
  embeddedPath: string | undefined;
  /** Whether writes go through or wait for storage (a full disk, a server down); every write runs through it. */
  health: StorageHealth;
  /** Inserts a Native block (sinks/nativeBlock.ts): the sinks' one insert path for rows. */
  insertNative: InsertNative;
  close(): Promise<void>;
}

/**
 * One `@clickhouse/client` for both deployments: a ClickHouse server when `url` is set,
 * otherwise the embedded engine (chDB) with its data under `path`. The embedded engine admits
 * one process per data folder; see `sql/` for how other processes query it meanwhile.
 */
export async function openClickHouse(
  config: Omit<Config['clickhouse'], 'compactQuietMs'>,
): Promise<ClickHouse> {
  const settings = {
    date_time_output_format: 'iso' as const,
    output_format_json_quote_64bit_integers: 1 as const,
  };
  let client: ClickHouseClient;
  let embeddedPath: string | undefined;
  let insertNative: InsertNative;
  if (config.url) {
    client = createClient({
      url: config.url,
      username: config.user,
      password: config.password,
      clickhouse_settings: settings,
      request_timeout: 120_000,
    });
    insertNative = httpInsert(client);
  } else {
    embeddedPath = resolve(config.path);
    mkdirSync(embeddedPath, { recursive: true });
    try {
      // chdb and @clickhouse/client each bundle a copy of the same Connection types.
      const chdb = createChdbConnection({ path: embeddedPath });
      client = createClient({
        connection: chdb as unknown as ClientConnection,
        clickhouse_settings: settings,
      });
      insertNative = embeddedInsert(chdb.chdb as EmbeddedSession, embeddedPath);
    } catch (error) {
      throw new SinkError(
        `cannot open the embedded ClickHouse at ${embeddedPath}: ${(error as Error).message}`,
        {
          cause: error,
          hint: 'another process may hold this data folder; stop it or set clickhouse.path to another folder',
        },
      );
    }
  }
  const ping = await client.ping();
  if (!ping.success) {
    await client.close().catch(() => undefined);
    throw new SinkError(
      `ClickHouse at ${config.url ?? embeddedPath} does not answer: ${ping.error.message}`,
      {
        cause: ping.error,
        retriable: true,
        hint: 'check CLICKHOUSE_URL, CLICKHOUSE_USER and CLICKHOUSE_PASSWORD',
      },
    );
  }
  return {
    client,
    database: config.database,
    embeddedPath,
    health: new StorageHealth(),
    insertNative,
    close: () => client.close(),
  };
}

/** Runs a query and returns its rows as objects. */
export async function queryRows<T>(
  ch: ClickHouse,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const result = await ch.client.query({ query, query_params: params, format: 'JSONEachRow' });
  return result.json<T>();
}
