import { describe, expect, it } from 'vitest';
import { SinkError } from '../../core/errors.js';
import { loadConfig } from '../../core/config.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { ensureTables, tableStatements } from '../../sinks/tables.js';

const config = loadConfig(undefined, {}, {});

/** A client that runs every statement, failing the one `failOn` picks with `error`. */
function clientFailing(failOn: (query: string) => boolean, error: unknown) {
  const ran: string[] = [];
  const ch = {
    database: 'db',
    client: {
      command: async ({ query }: { query: string }) => {
        ran.push(query);
        if (failOn(query)) throw error;
      },
    },
  } as unknown as ClickHouse;
  return { ch, ran };
}

/** An error as the client gives the engine's answer to an unknown setting (code 115). */
function unknownSetting(name: string): Error {
  return Object.assign(new Error(`Unknown setting '${name}'`), { code: '115', type: 'UNKNOWN_SETTING' });
}

const mergesAlter = (q: string) => q.endsWith('MODIFY SETTING merge_selector_base = 12');

describe('ensureTables', () => {
  it('goes on without the raw merge setting when the server does not know it, and says so', async () => {
    const { ch, ran } = clientFailing(mergesAlter, unknownSetting('merge_selector_base'));
    const warned: unknown[] = [];
    await ensureTables(ch, config, { warn: (...args: unknown[]) => warned.push(args) } as never);
    expect(ran).toEqual(tableStatements('db', config));
    expect(warned).toHaveLength(1);
  });

  it('fails on any other error of that statement, and on an unknown setting anywhere else', async () => {
    const cases: Array<[(q: string) => boolean, unknown]> = [
      [mergesAlter, new Error('socket hang up')],
      [mergesAlter, Object.assign(new Error('Table db.samples does not exist'), { code: '60' })],
      [
        (q) => q.includes('MODIFY SETTING min_compress_block_size'),
        unknownSetting('min_compress_block_size'),
      ],
    ];
    for (const [failOn, error] of cases) {
      const { ch } = clientFailing(failOn, error);
      await expect(ensureTables(ch, config)).rejects.toBeInstanceOf(SinkError);
    }
  });
});
