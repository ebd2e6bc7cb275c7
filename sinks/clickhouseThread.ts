import type { ClickHouseClient } from '@clickhouse/client';
import type { ThreadPort } from '../streams/threadPort.js';
import { queryRows, type ClickHouse } from './clickhouse.js';
import type { NativeInsert } from './insertNative.js';
import { StorageHealth } from './storageHealth.js';

/**
 * The embedded engine admits one session per process, so stream threads reach it through the
 * thread that opened it: these are that thread's answers (`clickhouseOverPort` asks them).
 */
export function clickhouseHandlers(ch: ClickHouse) {
  return {
    'clickhouse.query': (query: string, params: Record<string, unknown>) => queryRows(ch, query, params),
    'clickhouse.command': async (query: string) => {
      await ch.client.command({ query });
    },
    'clickhouse.insert': async (insert: Omit<NativeInsert, 'block'> & { block: Uint8Array }) => {
      const { block } = insert;
      await ch.insertNative({
        ...insert,
        block: Buffer.from(block.buffer, block.byteOffset, block.byteLength),
      });
    },
  };
}

/**
 * A `ClickHouse` for a stream thread whose engine is open in another thread of the process
 * (`clickhouseHandlers` there): inserts move a copy of their Native block across, queries and commands go
 * as text. Only what the topology's sinks use is here: `client.query` (JSONEachRow),
 * `client.command` and `insertNative`. Writes wait for storage in this thread's own `health`.
 */
export function clickhouseOverPort(
  port: ThreadPort,
  config: { database: string },
  embeddedPath: string | undefined,
): ClickHouse {
  const client = {
    query: async ({ query, query_params }: { query: string; query_params?: Record<string, unknown> }) => {
      const rows = await port.call<unknown[]>('clickhouse.query', [query, query_params ?? {}]);
      return { json: async () => rows };
    },
    command: async ({ query }: { query: string }) => {
      await port.call('clickhouse.command', [query]);
      return { query_id: '' };
    },
    ping: async () => ({ success: true }),
    close: async () => undefined,
  };
  return {
    client: client as unknown as ClickHouseClient,
    database: config.database,
    embeddedPath,
    health: new StorageHealth(),
    // The block's bytes, and only they (a block is a view of a larger buffer), are copied once
    // and the copy moves across: a write that waits for storage tries the same block again.
    insertNative: async (insert) => {
      const bytes = Uint8Array.prototype.slice.call(insert.block);
      await port.call('clickhouse.insert', [{ ...insert, block: bytes }], [bytes.buffer]);
    },
    close: async () => undefined,
  };
}
